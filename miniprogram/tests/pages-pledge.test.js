const { ok, fail } = require('./fake-server');
const { setup, settle, openPage, canvasQuery, drawSignature } = require('./helpers');

const student = { id: 1, real_name: '王小明', memberships: [{ id: 1, org_id: 9, org_name: '三年级二班', role: 'student' }], children: [] };
const parent = { id: 2, real_name: '王大明', memberships: [], children: [{ id: 1, real_name: '王小明' }] };

function pledge(overrides) {
  return Object.assign({ id: 5, campaign_id: 1, campaign_title: '争做中国好网民', title: '全国青少年网络文明公约', body: '要善于网上学习，不浏览不良信息。', mode: 'individual', requires_handwriting: false, status: 'open', my_signature: null }, overrides);
}

// GET /pledges/{id} for a parent on a family pledge: the linked children and where each stands
const kid = (overrides) => Object.assign({ id: 1, real_name: '王小明', status: 'awaiting_guardian', revoked: false }, overrides);

const signature = (overrides) => Object.assign({ id: 40, pledge_id: 5, serial: 'QL-7F3K-9XQ2', status: 'complete', signed_at: '2026-11-20T02:00:00Z', revoked: false }, overrides);

describe('sign', () => {
  test('read, draw the handwriting, upload it, sign once; then the certificate', async () => {
    const server = setup();
    canvasQuery();
    server.on('GET', '/pledges/{id}', () => ok(pledge({ requires_handwriting: true })));
    server.on('GET', '/me', () => ok(student));
    server.on('POST', '/uploads/direct', () => ok({ id: 'up1', status: 'ready', media: { kind: 'image', mime: 'image/png' } }, 201));
    server.on('POST', '/pledges/{id}/signatures', ({ data }) => ok(signature(), 201));

    const page = await openPage('pages/pledge/index', { id: '5' });
    expect(page.data.view).toBe('read');
    expect(page.querySelector('.body-text').dom.textContent).toContain('不浏览不良信息');

    // signing without drawing is refused locally
    await page.instance.sign();
    expect(wx.showToast).toHaveBeenCalledWith(expect.objectContaining({ title: '请先在签名区手写签名' }));
    expect(server.callsTo('POST', '/pledges/5/signatures')).toHaveLength(0);

    await drawSignature(page.querySelector('#pad'));
    await Promise.all([page.instance.sign(), page.instance.sign()]); // double tap
    const signs = server.callsTo('POST', '/pledges/5/signatures');
    expect(signs).toHaveLength(1);
    expect(signs[0].data).toEqual({ handwriting_upload_id: 'up1' });
    expect(wx.uploadFile.mock.calls[0][0].filePath).toBe('wxfile://tmp/signature.png');
    expect(page.data.view).toBe('done');
    expect(page.data.signature.serial).toBe('QL-7F3K-9XQ2');

    page.instance.openCertificate();
    expect(wx.navigateTo).toHaveBeenCalledWith(expect.objectContaining({ url: '/pages/certificate/index?serial=QL-7F3K-9XQ2&mine=1' }));
  });

  test('a server refusal shows its Chinese message and the button works again', async () => {
    const server = setup();
    server.on('GET', '/pledges/{id}', () => ok(pledge()));
    server.on('GET', '/me', () => ok(student));
    server.on('POST', '/pledges/{id}/signatures', () => fail(409, 'pledge_closed', '承诺签署已经结束'));
    const page = mount('pages/pledge/index');
    await page.instance.onLoad({ id: '5' });
    await page.instance.sign();
    expect(wx.showToast).toHaveBeenCalledWith(expect.objectContaining({ title: '承诺签署已经结束', icon: 'none' }));
    expect(page.data.view).toBe('read');
    expect(page.data.submitting).toBe(false);
  });
});

// a teacher of another school whose child is here sees the campaign only through the child
const teacherElsewhere = { id: 3, real_name: '赵老师', memberships: [{ id: 7, org_id: 30, org_name: '第二小学', role: 'teacher' }], children: [{ id: 1, real_name: '王小明' }] };

test.each([
  ['a parent', parent, 'open'],
  ['a teacher of another school', teacherElsewhere, 'open'],
  ['a parent, after the window', parent, 'closed'],
])('%s opening a pupil\'s individual pledge (guardian_only) is told the child signs it, with no sign button', async (_, who, status) => {
  const server = setup();
  server.on('GET', '/pledges/{id}', () => ok(pledge({ guardian_only: true, status })));
  server.on('GET', '/me', () => ok(who));
  const page = await openPage('pages/pledge/index', { id: '5' });
  expect(page.querySelector('.sign')).toBeUndefined();
  const notes = page.querySelectorAll('.card.muted').map((n) => n.dom.textContent);
  expect(notes).toEqual([expect.stringContaining('请让孩子在自己的微信中签署')]); // one note, not also 签署已经结束
});

describe('family co-sign', () => {
  test('the child signs and waits for a parent; the family code to hand over comes on tap', async () => {
    const server = setup();
    server.on('GET', '/pledges/{id}', () => ok(pledge({ mode: 'family' })));
    server.on('GET', '/me', () => ok(student));
    server.on('GET', '/me/family-code', () => ok({ code: '04817263', expires_at: '2030-01-01T02:00:00Z' }));
    server.on('POST', '/pledges/{id}/signatures', () => ok(signature({ status: 'awaiting_guardian' }), 201));
    const page = mount('pages/pledge/index');
    await page.instance.onLoad({ id: '5' });
    expect(page.data.isParent).toBe(false);
    await page.instance.sign();
    await settle();
    expect(page.data.view).toBe('waiting');
    expect(page.querySelector('.waiting .card-title').dom.textContent).toBe('等待家长共同签署');
    // no code is issued until the child asks for one
    expect(server.callsTo('GET', '/me/family-code')).toHaveLength(0);
    expect(page.querySelector('.big-code')).toBeUndefined();

    page.querySelector('.show-family-code').dispatchEvent('tap');
    await settle();
    expect(server.callsTo('GET', '/me/family-code')).toHaveLength(1);
    expect(page.data.familyCode).toBe('04817263');
    expect(page.querySelector('.big-code').dom.textContent).toBe('04817263');
    expect(page.querySelector('.waiting').dom.textContent).toContain('2030-01-01 10:00 前有效');
    expect(page.querySelector('.show-family-code')).toBeUndefined();
    page.instance.bindParentHelp();
    expect(wx.showModal.mock.calls[0][0].content).toContain('04817263');
  });

  test('the child reopening the pledge sees the waiting screen again, without fetching a code', async () => {
    const server = setup();
    server.on('GET', '/pledges/{id}', () => ok(pledge({ mode: 'family', my_signature: signature({ status: 'awaiting_guardian' }) })));
    server.on('GET', '/me', () => ok(student));
    server.on('GET', '/me/family-code', () => ok({ code: '04817263', expires_at: '2030-01-01T02:00:00Z' }));
    const page = await openPage('pages/pledge/index', { id: '5' });
    expect(page.data.view).toBe('waiting');
    await page.instance.refresh();
    await settle();
    expect(server.callsTo('GET', '/me/family-code')).toHaveLength(0);
    expect(page.querySelector('.show-family-code').dom.textContent).toBe('显示家庭码');
    page.instance.bindParentHelp();
    expect(wx.showModal.mock.calls[0][0].content).toContain('点“显示家庭码”获取');
  });

  test('a linked parent co-signs for the chosen child and gets the completed certificate', async () => {
    const server = setup();
    server.on('GET', '/pledges/{id}', () => ok(pledge({ mode: 'family', children: [kid()] })));
    server.on('GET', '/me', () => ok(parent));
    server.on('POST', '/pledges/{id}/signatures', ({ data }) => (data.child_id === 1 ? ok(signature({ status: 'complete', guardian_signed_at: '2026-11-20T03:00:00Z' })) : fail(422, 'validation_error', '家庭承诺由孩子先签署，家长签署时请选择孩子')));
    const page = await openPage('pages/pledge/index', { id: '5' });
    expect(page.data.isParent).toBe(true);
    expect(page.data.view).toBe('cosign');
    expect(page.querySelectorAll('.child')).toHaveLength(1);
    await Promise.all([page.instance.cosign(), page.instance.cosign()]);
    const signs = server.callsTo('POST', '/pledges/5/signatures');
    expect(signs).toHaveLength(1);
    expect(signs[0].data).toEqual({ child_id: 1 });
    expect(page.data.view).toBe('done');
    expect(page.data.signature.status).toBe('complete');
    expect(page.data.children[0].stateText).toBe('已完成');
  });

  test('a parent reopening a pledge already co-signed sees it done, not the co-sign screen', async () => {
    const server = setup();
    server.on('GET', '/pledges/{id}', () => ok(pledge({ mode: 'family', children: [kid({ status: 'complete', serial: 'QL-7F3K-9XQ2' })] })));
    server.on('GET', '/me', () => ok(parent));
    const page = await openPage('pages/pledge/index', { id: '5' });
    expect(page.data.view).toBe('done');
    expect(page.querySelector('.cosign')).toBeUndefined();
    expect(page.querySelector('.done .card-title').dom.textContent).toBe('✅ 签署完成');
    expect(page.querySelector('.done').dom.textContent).toContain('王小明的家庭承诺已完成');
    expect(page.querySelector('.done').dom.textContent).toContain('证书编号：QL-7F3K-9XQ2');

    page.instance.openCertificate(); // the serial came with the child's state: nothing is signed again
    expect(wx.navigateTo).toHaveBeenCalledWith(expect.objectContaining({ url: '/pages/certificate/index?serial=QL-7F3K-9XQ2&mine=1' }));
    expect(server.callsTo('POST', '/pledges/5/signatures')).toHaveLength(0);
  });

  test('a student whose signature the school revoked is told so, with no certificate to open', async () => {
    const server = setup();
    server.on('GET', '/pledges/{id}', () => ok(pledge({ my_signature: signature({ revoked: true }) })));
    server.on('GET', '/me', () => ok(student));
    const page = await openPage('pages/pledge/index', { id: '5' });
    expect(page.data.view).toBe('revoked');
    expect(page.querySelector('.revoked').dom.textContent).toContain('签名已撤销');
    expect(page.querySelector('.done')).toBeUndefined();
    expect(page.querySelector('.sign')).toBeUndefined();
  });

  test('a parent whose child has not signed yet is asked to wait for the child, then co-signs', async () => {
    const server = setup();
    let childStatus = null;
    server.on('GET', '/pledges/{id}', () => ok(pledge({ mode: 'family', children: [kid({ status: childStatus })] })));
    server.on('GET', '/me', () => ok(parent));
    const page = await openPage('pages/pledge/index', { id: '5' });
    expect(page.data.view).toBe('childWaiting');
    expect(page.querySelector('.child-waiting .card-title').dom.textContent).toBe('等待孩子先签署');
    expect(page.querySelector('.child-waiting').dom.textContent).toContain('王小明还没有签署');
    expect(page.querySelector('.cosign')).toBeUndefined();
    childStatus = 'awaiting_guardian';
    await page.instance.refresh();
    await settle();
    expect(page.data.view).toBe('cosign');
  });

  test('with two children the screen follows the chosen one, starting with the one waiting for the parent', async () => {
    const server = setup();
    const twoKids = Object.assign({}, parent, { children: [{ id: 1, real_name: '王小明' }, { id: 3, real_name: '王小红' }] });
    server.on('GET', '/pledges/{id}', () => ok(pledge({ mode: 'family', children: [kid({ status: 'complete' }), kid({ id: 3, real_name: '王小红' })] })));
    server.on('GET', '/me', () => ok(twoKids));
    const page = await openPage('pages/pledge/index', { id: '5' });
    expect(page.data.childIndex).toBe(1);
    expect(page.data.view).toBe('cosign');
    expect(page.querySelectorAll('.child').map((c) => c.dom.textContent)).toEqual(['王小明已完成', '王小红待你共同签署✓']);
    page.instance.onPickChild({ currentTarget: { dataset: { index: 0 } } });
    await settle();
    expect(page.data.view).toBe('done');
  });

  test('a co-sign the server refuses shows its message and stays on the co-sign screen', async () => {
    const server = setup();
    server.on('GET', '/pledges/{id}', () => ok(pledge({ mode: 'family', children: [kid()] })));
    server.on('GET', '/me', () => ok(parent));
    server.on('POST', '/pledges/{id}/signatures', () => fail(409, 'child_not_signed', '孩子还没有签署，请提醒孩子先签署'));
    const page = mount('pages/pledge/index');
    await page.instance.onLoad({ id: '5' });
    await page.instance.cosign();
    expect(wx.showToast).toHaveBeenCalledWith(expect.objectContaining({ title: '孩子还没有签署，请提醒孩子先签署' }));
    expect(page.data.view).toBe('cosign');
  });
});

describe('certificate (no login)', () => {
  test('verifies without a token, saves the poster, shares to Moments', async () => {
    const server = setup({ loggedIn: false });
    server.on('GET', '/certificates/{serial}', ({ token }) => ok({ serial: 'QL-7F3K-9XQ2', name_masked: '王*明', title: '全国青少年网络文明公约', mode: 'individual', signed_at: '2026-11-20T02:00:00Z', school: '实验小学', valid: true, revoked: false }));
    server.on('GET', '/certificates/{serial}/image', () => ok(''));
    wx.getEnterOptionsSync = jest.fn(() => ({ scene: 1001 }));
    const page = mount('pages/certificate/index');
    // opened by scanning the poster's QR (an ordinary link → q)
    await page.instance.onLoad({ q: encodeURIComponent('https://example.invalid/api/v1/certificates/QL-7F3K-9XQ2'), mine: '1' });
    expect(page.data.serial).toBe('QL-7F3K-9XQ2');
    expect(page.data.certificate.name_masked).toBe('王*明');
    expect(server.calls.every((c) => c.token === null)).toBe(true);
    expect(wx.login).not.toHaveBeenCalled();

    await page.instance.saveToAlbum();
    expect(wx.saveImageToPhotosAlbum).toHaveBeenCalledWith(expect.objectContaining({ filePath: 'wxfile://tmp/download.png' }));
    expect(wx.showToast).toHaveBeenCalledWith(expect.objectContaining({ title: '已保存到相册' }));

    const share = page.instance.onShareTimeline();
    expect(share.query).toBe('serial=QL-7F3K-9XQ2');
    expect(share.title).toContain('王*明');
  });

  test('a family certificate still waiting for the parent says so, with no poster to save or share', async () => {
    const server = setup();
    server.on('GET', '/certificates/{serial}', () => ok({ serial: 'F1', name_masked: '王*明', title: '家庭承诺', mode: 'family', status: 'awaiting_guardian', guardian_signed: false, signed_at: '2026-11-20T02:00:00Z', valid: false, revoked: false }));
    const page = await openPage('pages/certificate/index', { serial: 'F1', mine: '1' });
    const text = page.querySelector('.verify').dom.textContent;
    expect(text).toContain('等待家长共同签署');
    expect(text).not.toContain('失效');
    expect(page.querySelector('.poster')).toBeUndefined();
    expect(page.querySelector('.actions')).toBeUndefined();
    expect(server.callsTo('GET', '/certificates/F1/image')).toHaveLength(0);
  });

  test('in single-page mode (from Moments) it shows the verification without the owner buttons', async () => {
    const server = setup({ loggedIn: false });
    server.on('GET', '/certificates/{serial}', () => ok({ serial: 'S1', name_masked: '李*', title: '文明上网倡议书', signed_at: '2026-11-20T02:00:00Z', valid: false, revoked: true }));
    wx.getEnterOptionsSync = jest.fn(() => ({ scene: 1154 }));
    const page = await openPage('pages/certificate/index', { serial: 'S1', mine: '1' });
    expect(page.data.singlePage).toBe(true);
    expect(page.querySelector('.verify .card-title').dom.textContent).toContain('证书已撤销');
    expect(page.querySelector('.actions')).toBeUndefined();
  });
});
