const { ok, fail } = require('./fake-server');
const { setup, settle } = require('./helpers');

function campaignsServer(server) {
  server.on('GET', '/campaigns', () => ok({ items: [{ id: 1, title: '争做中国好网民', org_name: '某市教育局', status: 'active', current_phase: '实施', theme: '网络文明' }], total: 1, page: 1, page_size: 50 }));
  server.on('GET', '/campaigns/{id}/pledges', () => ok({ items: [
    { id: 5, title: '网络文明公约', mode: 'individual', status: 'open', my_signature: { serial: 'S5', status: 'complete', signed_at: '2026-11-20T02:00:00Z' } },
    { id: 6, title: '家庭承诺', mode: 'family', status: 'open', my_signature: { serial: 'S6', status: 'awaiting_guardian', signed_at: '2026-11-20T02:00:00Z' } },
  ], total: 2, page: 1, page_size: 50 }));
  server.on('GET', '/campaigns/{id}/quizzes', () => ok({ items: [{ id: 9, title: '知识竞赛', status: 'open', leveled: false, levels: [], me: { open_attempt_id: null, certificate_serial: 'QZ0000009AB12CD34', levels: [{ level: 1, attempts_used: 1, best_score: 80, passed: true, unlocked: true }] } }], total: 1, page: 1, page_size: 50 }));
}

test('home lists the campaigns with their phase and my progress', async () => {
  const server = setup();
  campaignsServer(server);
  const page = mount('pages/home/index');
  await page.instance.onLoad();
  await settle();
  const c = page.data.campaigns[0];
  expect(c.statusText).toBe('进行中');
  expect(c.pledges.map((p) => p.progress.text)).toEqual(['已签署', '等待家长签署']);
  expect(c.quizzes[0].progress.text).toBe('最好成绩 80 分');
  expect(c.doneText).toBe('已完成 2 / 3');
  expect(page.querySelectorAll('.task')).toHaveLength(3);
});

test('home shows the error state with retry when offline', async () => {
  const server = setup();
  campaignsServer(server);
  server.setOnline(false);
  const page = mount('pages/home/index');
  await page.instance.onLoad();
  expect(page.data.status).toBe('error');
  expect(page.data.message).toBe('网络不给力，请检查网络后重试');
  server.setOnline(true);
  await page.instance.onRetry();
  expect(page.data.status).toBe('ok');
});

test("a student's me page shows certificates and results, and the family code only on tap", async () => {
  const server = setup();
  campaignsServer(server);
  server.on('GET', '/me', () => ok({ id: 1, real_name: '王小明', memberships: [{ id: 1, org_id: 9, org_name: '三年级二班', role: 'student' }], children: [] }));
  server.on('GET', '/me/family-code', () => ok({ code: '04817263', expires_at: '2030-01-01T02:00:00Z' }));
  const page = mount('pages/me/index');
  await page.instance.onLoad();
  await settle();
  expect(page.data.certificates.map((c) => c.serial)).toEqual(['S5', 'S6', 'QZ0000009AB12CD34']);
  expect(page.data.results).toEqual([{ id: 9, title: '知识竞赛', text: '最好成绩 80 分' }]);
  expect(page.data.staffOrgs).toEqual([]);
  // the passed quiz's certificate opens as a quiz certificate
  page.querySelectorAll('.certificate')[2].dispatchEvent('tap');
  await settle();
  expect(wx.navigateTo).toHaveBeenLastCalledWith(expect.objectContaining({ url: '/pages/certificate/index?serial=QZ0000009AB12CD34&kind=quiz&mine=1' }));

  // Opening the page issues no code (every issued code is one more a stranger could guess).
  expect(server.callsTo('GET', '/me/family-code')).toHaveLength(0);
  expect(page.data.familyCode).toBe('');
  expect(page.querySelector('.big-code')).toBeUndefined();
  const card = page.querySelector('.family-code');
  expect(card.dom.textContent).toContain('家长在自己的微信里');
  // Coming back to the page (onShow) does not fetch one either.
  page.instance.onShow();
  await settle();
  expect(server.callsTo('GET', '/me/family-code')).toHaveLength(0);

  const button = page.querySelector('.show-family-code');
  expect(button.dom.textContent).toBe('显示家庭码');
  button.dispatchEvent('tap');
  await settle();
  expect(server.callsTo('GET', '/me/family-code')).toHaveLength(1);
  expect(page.data.familyCode).toBe('04817263');
  expect(page.querySelector('.big-code').dom.textContent).toBe('04817263');
  expect(page.querySelector('.family-code-expiry').dom.textContent).toContain('2030-01-01 10:00 前有效');
  expect(page.querySelector('.show-family-code')).toBeUndefined();
});

test("a parent's home and me follow the children: a co-signed family pledge is done and its certificate listed", async () => {
  const server = setup();
  campaignsServer(server);
  // GET /campaigns/{id}/pledges as a parent gets it: no signature of their own, each child's state
  server.on('GET', '/campaigns/{id}/pledges', () => ok({ items: [
    { id: 6, title: '家庭承诺', mode: 'family', status: 'open', my_signature: null, guardian_only: true, children: [{ id: 3, real_name: '王小明', status: 'complete', revoked: false, serial: 'F6' }] },
    { id: 7, title: '假期家庭承诺', mode: 'family', status: 'open', my_signature: null, guardian_only: true, children: [{ id: 3, real_name: '王小明', status: 'awaiting_guardian', revoked: false, serial: null }] },
    { id: 8, title: '网络文明公约', mode: 'individual', status: 'open', my_signature: null, guardian_only: true, children: null },
  ], total: 3, page: 1, page_size: 50 }));
  server.on('GET', '/campaigns/{id}/quizzes', () => ok({ items: [], total: 0, page: 1, page_size: 50 }));
  server.on('GET', '/me', () => ok({ id: 2, real_name: '王大明', memberships: [], children: [{ id: 3, real_name: '王小明' }] }));
  server.on('GET', '/family/links', () => ok({ children: [{ id: 4, person: { id: 3, real_name: '王小明' }, created_at: '2026-11-20T02:00:00Z' }], guardians: [] }));

  const home = mount('pages/home/index');
  await home.instance.onLoad();
  await settle();
  const c = home.data.campaigns[0];
  // the pupils' individual pledge is the child's to sign: listed, not one of the parent's tasks
  expect(c.pledges.map((p) => p.progress.text)).toEqual(['已共同签署', '待你共同签署', '由孩子签署']);
  expect(c.doneText).toBe('已完成 1 / 2');

  const me = mount('pages/me/index');
  await me.instance.onLoad();
  await settle();
  expect(me.data.certificates.map((x) => [x.serial, x.title])).toEqual([['F6', '家庭承诺（王小明）']]);
});

test("a student sees who is linked as guardian and removes an account it does not know", async () => {
  const server = setup();
  campaignsServer(server);
  server.on('GET', '/me', () => ok({ id: 1, real_name: '王小明', memberships: [{ id: 1, org_id: 9, org_name: '三年级二班', role: 'student' }], children: [] }));
  let guardians = [
    { id: 7, person: { id: 20, real_name: '王大明' }, created_at: '2026-11-20T02:00:00Z' },
    { id: 8, person: { id: 21, real_name: null }, created_at: '2026-11-21T02:00:00Z' },
  ];
  server.on('GET', '/family/links', () => ok({ children: [], guardians }));
  server.on('DELETE', '/family/links/{id}', ({ params }) => {
    guardians = guardians.filter((g) => g.id !== Number(params[0]));
    return { status: 204, body: '' };
  });
  const page = mount('pages/me/index');
  await page.instance.onLoad();
  await settle();
  const items = page.querySelectorAll('.guardian');
  expect(items.map((item) => item.dom.textContent)).toEqual([expect.stringContaining('王大明'), expect.stringContaining('家长（未填写姓名）')]);
  expect(items[1].dom.textContent).toContain('2026-11-21 绑定');

  wx.showModal = jest.fn((opts) => opts.success({ confirm: false, cancel: true }));
  page.querySelectorAll('.remove-guardian')[1].dispatchEvent('tap');
  await settle();
  expect(server.callsTo('DELETE', '/family/links/8')).toHaveLength(0); // cancelled: nothing removed

  wx.showModal = jest.fn((opts) => opts.success({ confirm: true, cancel: false }));
  page.querySelectorAll('.remove-guardian')[1].dispatchEvent('tap');
  await settle();
  expect(wx.showModal.mock.calls[0][0].content).toContain('家长（未填写姓名）将不能再为你共同签署家庭承诺');
  expect(server.callsTo('DELETE', '/family/links/8')).toHaveLength(1);
  expect(page.querySelectorAll('.guardian').map((item) => item.dom.textContent)).toEqual([expect.stringContaining('王大明')]);
});

test("a parent's or teacher's me page never asks for a family code", async () => {
  const server = setup();
  campaignsServer(server);
  server.on('GET', '/me', () => ok({ id: 2, real_name: '王大明', memberships: [], children: [{ id: 1, real_name: '王小明' }] }));
  const page = mount('pages/me/index');
  await page.instance.onLoad();
  await settle();
  expect(page.querySelector('.family-code')).toBeUndefined();
  expect(server.callsTo('GET', '/me/family-code')).toHaveLength(0);
  expect(server.callsTo('GET', '/family/links')).toHaveLength(0); // guardians are a student's list
});

test("a teacher's class view lists who has not signed and who has not taken the quiz", async () => {
  const server = setup();
  campaignsServer(server);
  server.on('GET', '/pledges/{id}/stats', ({ query }) => ok({ org_id: Number(query.org_id), signed: 38, enrolled: 40, unsigned: [{ id: 3, real_name: '李四', status: null }, { id: 4, real_name: '赵五', status: 'awaiting_guardian' }, { id: 5, real_name: '钱六', status: 'revoked' }] }));
  server.on('GET', '/quizzes/{id}/stats', ({ query }) => ok({ quiz_id: 9, org_id: Number(query.org_id), attempts: 39, students: 38, enrolled: 40, questions: [], categories: [], not_taken: [{ id: 3, real_name: '李四' }, { id: 7, real_name: '孙八' }] }));
  const page = mount('pages/class-view/index');
  await page.instance.onLoad({ org_id: '9', name: encodeURIComponent('三年级二班') });
  await settle();
  expect(server.callsTo('GET', '/campaigns')[0].query.status).toBe('active');
  expect(server.callsTo('GET', '/quizzes/9/stats')[0].query.org_id).toBe('9');
  expect(page.data.pledges[0].unsigned.map((s) => s.note)).toEqual(['未签署', '待家长签署', '签名已被撤销']);
  expect(page.data.quizzes[0]).toEqual(expect.objectContaining({ took: 38, enrolled: 40, notTaken: 2 }));
  const rows = page.querySelectorAll('.not-taken').map((row) => row.dom.textContent);
  expect(rows).toEqual(['李四未参加', '孙八未参加']);
});

test("a school's view counts the quiz takers without names", async () => {
  const server = setup();
  campaignsServer(server);
  server.on('GET', '/pledges/{id}/stats', () => ok({ org_id: 2, signed: 70, enrolled: 80, children: [{ org_id: 9, name: '三年级二班', signed: 38, enrolled: 40 }] }));
  // enrolled comes from the quiz's own statistics (its campaign may reach other students than the pledge's)
  server.on('GET', '/quizzes/{id}/stats', () => ok({ quiz_id: 9, org_id: 2, attempts: 60, students: 55, enrolled: 90, took: 54, not_taken_count: 36, questions: [], categories: [] }));
  const page = mount('pages/class-view/index');
  await page.instance.onLoad({ org_id: '2', name: encodeURIComponent('第一小学') });
  await settle();
  // took and not_taken_count are about the same students (enrolled now), so they add up to enrolled
  expect(page.data.quizzes[0]).toEqual(expect.objectContaining({ took: 54, enrolled: 90, notTaken: 36, isClass: false, missing: [] }));
  expect(page.querySelectorAll('.not-taken')).toHaveLength(0);
});

test('staff export the lists as Excel from the class view; a refusal shows the server message', async () => {
  const server = setup();
  campaignsServer(server);
  server.on('GET', '/pledges/{id}/stats', () => ok({ org_id: 2, signed: 70, enrolled: 80, children: [] }));
  server.on('GET', '/quizzes/{id}/stats', () => ok({ quiz_id: 9, org_id: 2, attempts: 60, students: 55, questions: [], categories: [] }));
  server.on('GET', '/quizzes/{id}/results.xlsx', () => ok('xlsx bytes'));
  server.on('GET', '/pledges/{id}/signatures.xlsx', () => fail(422, 'export_too_large', '名单共 120000 行，超过单次导出上限 100000 行，请选择下级单位分别导出', { org_id: ['…'] }));
  const page = mount('pages/class-view/index');
  await page.instance.onLoad({ org_id: '2', name: encodeURIComponent('第一小学') });
  await settle();
  const buttons = page.querySelectorAll('.export');
  expect(buttons.map((b) => b.dom.textContent)).toEqual(['导出签名名单', '导出签名名单', '导出成绩单']);

  buttons[2].dispatchEvent('tap');
  await settle();
  const [call] = server.callsTo('GET', '/quizzes/9/results.xlsx');
  expect(call.query.org_id).toBe('2');
  expect(call.header.Authorization).toBe('Bearer A1');
  expect(wx.openDocument).toHaveBeenCalledWith(expect.objectContaining({ filePath: 'wxfile://tmp/download.png', fileType: 'xlsx', showMenu: true }));

  wx.showToast.mockClear();
  wx.hideLoading.mockClear();
  buttons[0].dispatchEvent('tap');
  await settle();
  expect(server.callsTo('GET', '/pledges/5/signatures.xlsx')).toHaveLength(1);
  expect(wx.openDocument).toHaveBeenCalledTimes(1);
  // One toast with the server's message, shown after the loading mask is gone (hiding it closes toasts).
  expect(wx.showToast).toHaveBeenCalledTimes(1);
  expect(wx.showToast).toHaveBeenCalledWith(expect.objectContaining({ title: '名单共 120000 行，超过单次导出上限 100000 行，请选择下级单位分别导出' }));
  expect(wx.hideLoading.mock.invocationCallOrder[0]).toBeLessThan(wx.showToast.mock.invocationCallOrder[0]);
});

test("the class view leaves out a campaign that does not reach the org instead of failing", async () => {
  const server = setup();
  campaignsServer(server);
  server.on('GET', '/pledges/{id}/stats', ({ params }) => (params[0] === '5'
    ? ok({ org_id: 9, signed: 1, enrolled: 2, unsigned: [{ id: 3, real_name: '李四', status: null }] })
    : fail(422, 'org_outside_campaign', '该组织不在此活动范围内', { org_id: ['该组织不在此活动范围内'] })));
  server.on('GET', '/quizzes/{id}/stats', () => fail(422, 'org_outside_campaign', '该组织不在此活动范围内', { org_id: ['该组织不在此活动范围内'] }));
  const page = mount('pages/class-view/index');
  await page.instance.onLoad({ org_id: '9', name: encodeURIComponent('三年级二班') });
  await settle();
  expect(page.data.status).toBe('ok');
  expect(page.data.pledges.map((p) => p.id)).toEqual([5]);
  expect(page.data.quizzes).toEqual([]);
  expect(wx.showToast).not.toHaveBeenCalled();
});
