const { ok, fail } = require('./fake-server');
const { setup, settle, session } = require('./helpers');

describe('start (login)', () => {
  test('a new user logs in with wx.login and sees the first steps', async () => {
    const server = setup({ loggedIn: false });
    server.on('POST', '/auth/wechat-login', ({ data }) => ok({ access_token: 'T1', refresh_token: 'R1', token_type: 'bearer', expires_in: 900, user: { id: 1, memberships: [], children: [] } }));
    server.on('GET', '/me', ({ token }) => (token === 'T1' ? ok({ id: 1, real_name: null, memberships: [], children: [] }) : fail(401, 'unauthorized', '请先登录')));
    const page = mount('pages/start/index');
    await page.instance.onLoad({});
    expect(server.callsTo('POST', '/auth/wechat-login')[0].data).toEqual({ code: 'wx-code-1' });
    expect(session.getAccessToken()).toBe('T1');
    expect(page.data.status).toBe('ok');
    expect(wx.reLaunch).not.toHaveBeenCalled();
    expect(page.querySelector('.card-title').dom.textContent).toContain('欢迎来到清朗校园');
  });

  test('a member goes straight to home; a failed login shows the error with retry', async () => {
    const server = setup({ loggedIn: false });
    server.on('POST', '/auth/wechat-login', () => fail(502, 'wechat_unavailable', '微信服务繁忙，请稍后重试'));
    const page = mount('pages/start/index');
    await page.instance.onLoad({});
    expect(page.data.status).toBe('error');
    expect(page.data.message).toBe('微信服务繁忙，请稍后重试');

    server.on('POST', '/auth/wechat-login', () => ok({ access_token: 'T2', refresh_token: 'R2', token_type: 'bearer', expires_in: 900, user: { id: 2 } }));
    server.on('GET', '/me', () => ok({ id: 2, memberships: [{ org_id: 5, role: 'student' }], children: [] }));
    await page.instance.onRetry();
    expect(wx.reLaunch).toHaveBeenCalledWith(expect.objectContaining({ url: '/pages/home/index' }));
  });
});

describe('join', () => {
  const preview = { code: 'AB12CD', role: 'student', org: { id: 9, name: '三年级二班', kind: 'class' }, parents: [{ id: 1, name: '某市' }, { id: 3, name: '实验小学' }], expires_at: '2030-01-01T00:00:00Z' };

  test('the scene of a scanned 小程序码 is previewed, then the real name joins once', async () => {
    const server = setup();
    server.on('GET', '/invites/{code}', ({ params }) => (params[0] === 'AB12CD' ? ok(preview) : fail(404, 'invite_not_found', '邀请码不存在')));
    server.on('POST', '/invites/{code}/accept', ({ data }) => ok({ id: 77, org_id: 9, org_name: '三年级二班', org_kind: 'class', role: 'student' }, 201));
    const page = mount('pages/join/index');
    await page.instance.onLoad({ scene: encodeURIComponent('AB12CD') });
    expect(page.data.orgPath).toBe('某市 / 实验小学 / 三年级二班');
    expect(page.data.roleText).toBe('学生');

    page.instance.onNameInput({ detail: { value: '王小明' } });
    await Promise.all([page.instance.accept(), page.instance.accept()]); // a double tap
    const accepts = server.callsTo('POST', '/invites/AB12CD/accept');
    expect(accepts).toHaveLength(1);
    expect(accepts[0].data).toEqual({ real_name: '王小明' });
    expect(wx.reLaunch).toHaveBeenCalledWith(expect.objectContaining({ url: '/pages/home/index' }));
  });

  test('a typed code that expired shows the server message; an empty name is refused locally', async () => {
    const server = setup();
    server.on('GET', '/invites/{code}', () => fail(410, 'invite_expired', '邀请码已过期，请向老师索取新的邀请码'));
    const page = mount('pages/join/index');
    await page.instance.onLoad({});
    page.instance.onCodeInput({ detail: { value: ' old99 ' } });
    await page.instance.preview();
    expect(server.calls[0].path).toBe('/invites/OLD99');
    expect(page.data.error).toBe('邀请码已过期，请向老师索取新的邀请码');
    expect(page.data.preview).toBe(null);

    server.on('GET', '/invites/{code}', () => ok(preview));
    await page.instance.preview();
    await page.instance.accept();
    expect(page.data.error).toBe('请输入真实姓名');
    expect(server.callsTo('POST', '/invites/OLD99/accept')).toHaveLength(0);
  });

  test('scanning the invite 小程序码 from inside the app reads the scene from the path', async () => {
    const server = setup();
    server.on('GET', '/invites/{code}', ({ params }) => ok(Object.assign({}, preview, { code: params[0] })));
    wx.scanCode = jest.fn((opts) => opts.success({ path: 'pages/join/index?scene=XY34ZW', result: '' }));
    const page = mount('pages/join/index');
    await page.instance.onLoad({});
    page.instance.scan();
    await settle();
    expect(page.data.code).toBe('XY34ZW');
    expect(server.calls[0].path).toBe('/invites/XY34ZW');
    expect(page.data.orgPath).toBe('某市 / 实验小学 / 三年级二班');
  });
});

describe('family bind', () => {
  test('a parent binds a child by the 8-digit family code, a leading 0 kept', async () => {
    const server = setup();
    server.on('POST', '/family/links', ({ data }) => (data.code === '04817263' ? ok({ child: { id: 3, real_name: '王小明' } }, 201) : fail(404, 'family_code_not_found', '家庭码不存在或已过期')));
    const page = mount('pages/family-bind/index');
    page.instance.onCodeInput({ detail: { value: '04817264' } });
    await page.instance.bind();
    expect(page.data.error).toBe('家庭码不存在或已过期');
    page.instance.onCodeInput({ detail: { value: ' 0481 7263 ' } });
    expect(page.data.code).toBe('04817263');
    await page.instance.bind();
    expect(server.callsTo('POST', '/family/links').map((c) => c.data)).toEqual([{ code: '04817264' }, { code: '04817263' }]);
    expect(page.data.child).toEqual({ id: 3, real_name: '王小明' });
    await settle();
    expect(page.querySelector('.card-title').dom.textContent).toContain('王小明');
  });

  test('a code that is not 8 digits is refused before asking the server', async () => {
    const server = setup();
    server.on('POST', '/family/links', () => ok({ child: { id: 3, real_name: '王小明' } }, 201));
    const page = mount('pages/family-bind/index');
    for (const value of ['4817263', '048172631', 'K7P2Q9AB', '']) {
      page.instance.onCodeInput({ detail: { value } });
      await page.instance.bind();
      expect(page.data.error).toContain('8 位数字');
    }
    expect(server.callsTo('POST', '/family/links')).toHaveLength(0);
  });

  test('the code field takes 8 digits and says so', () => {
    const wxml = require('fs').readFileSync(require('path').join(__dirname, '..', 'pages/family-bind/index.wxml'), 'utf8');
    const input = wxml.match(/<t-input[^>]*>/)[0];
    const maxlength = input.match(/maxlength="(?:\{\{)?(\d+)/);
    expect(maxlength && Number(maxlength[1])).toBeGreaterThanOrEqual(8);
    expect(input).toMatch(/placeholder="[^"]*8 位数字/);
  });
});
