const { createServer, ok, fail } = require('./fake-server');

function fresh() {
  jest.resetModules();
  global.resetWx();
  const server = createServer().install();
  const session = require('../api/session');
  const request = require('../api/request');
  return { server, session, request };
}

describe('request layer', () => {
  test('adds the bearer token and returns the parsed body', async () => {
    const { server, session, request } = fresh();
    session.setTokens({ access_token: 'A1', refresh_token: 'R1' });
    server.on('GET', '/me', ({ token }) => (token === 'A1' ? ok({ id: 1, real_name: '张三' }) : fail(401, 'token_expired', '登录已过期')));
    await expect(request.get('/me')).resolves.toEqual({ id: 1, real_name: '张三' });
    expect(server.calls[0].token).toBe('A1');
  });

  test('many parallel 401s share one refresh and all succeed', async () => {
    const { server, session, request } = fresh();
    session.setTokens({ access_token: 'OLD', refresh_token: 'R1' });
    server.on('POST', '/auth/refresh', ({ token }) => (token === 'R1' ? ok({ access_token: 'NEW', token_type: 'bearer', expires_in: 900 }) : fail(401, 'token_invalid', '请重新登录')));
    server.on('GET', '/campaigns/{id}', ({ token, params }) => (token === 'NEW' ? ok({ id: Number(params[0]) }) : fail(401, 'token_expired', '登录已过期')));
    const results = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((id) => request.get(`/campaigns/${id}`)));
    expect(results.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(server.callsTo('POST', '/auth/refresh')).toHaveLength(1);
    expect(session.getAccessToken()).toBe('NEW');
    expect(wx.showToast).not.toHaveBeenCalled();
  });

  test('a failed refresh clears the tokens and logs in again with wx.login, once', async () => {
    const { server, session, request } = fresh();
    session.setTokens({ access_token: 'OLD', refresh_token: 'EXPIRED' });
    server.on('POST', '/auth/refresh', () => fail(401, 'refresh_token_expired', '登录已过期，请重新登录'));
    server.on('POST', '/auth/wechat-login', ({ data }) => ok({ access_token: 'FRESH', refresh_token: 'R2', token_type: 'bearer', expires_in: 900, user: { id: 7, real_name: '李四' } }));
    server.on('GET', '/me', ({ token }) => (token === 'FRESH' ? ok({ id: 7 }) : fail(401, 'token_expired', '登录已过期')));
    const results = await Promise.all([request.get('/me'), request.get('/me'), request.get('/me')]);
    expect(results).toEqual([{ id: 7 }, { id: 7 }, { id: 7 }]);
    expect(server.callsTo('POST', '/auth/refresh')).toHaveLength(1);
    const logins = server.callsTo('POST', '/auth/wechat-login');
    expect(logins).toHaveLength(1);
    expect(logins[0].data).toEqual({ code: 'wx-code-1' });
    expect(wx.login).toHaveBeenCalledTimes(1);
    expect(session.getRefreshToken()).toBe('R2');
  });

  test('the error shape becomes an ApiError and its Chinese message is shown', async () => {
    const { server, session, request } = fresh();
    session.setTokens({ access_token: 'A1', refresh_token: 'R1' });
    server.on('POST', '/invites/{code}/accept', () => fail(422, 'validation_error', '请检查填写的内容', { real_name: ['请填写真实姓名'] }));
    const error = await request.post('/invites/ABC/accept', { real_name: '' }).catch((e) => e);
    expect(error).toBeInstanceOf(request.ApiError);
    expect(error.status).toBe(422);
    expect(error.code).toBe('validation_error');
    expect(error.message).toBe('请检查填写的内容');
    expect(error.errors).toEqual({ real_name: ['请填写真实姓名'] });
    expect(wx.showToast).toHaveBeenCalledWith(expect.objectContaining({ title: '请检查填写的内容', icon: 'none' }));
  });

  test('a 500 without the shape and a network failure get Chinese messages; silent shows nothing', async () => {
    const { server, session, request } = fresh();
    session.setTokens({ access_token: 'A1', refresh_token: 'R1' });
    server.on('GET', '/health', () => ({ status: 502, body: '<html>Bad Gateway</html>' }));
    const e1 = await request.get('/health').catch((e) => e);
    expect(e1.message).toBe('服务器开小差了，请稍后重试');
    server.setOnline(false);
    const e2 = await request.get('/health').catch((e) => e);
    expect(e2.code).toBe('network_error');
    expect(e2.message).toBe('网络不给力，请检查网络后重试');
    expect(server.calls.length).toBe(1); // offline calls never reach the server
    expect(wx.request).toHaveBeenCalledTimes(3); // a GET is retried once on a network failure
    wx.showToast.mockClear();
    await request.get('/health', { silent: true }).catch(() => {});
    expect(wx.showToast).not.toHaveBeenCalled();
  });

  test('a refresh that fails on the network keeps the tokens and does not log in again', async () => {
    const { server, session, request } = fresh();
    session.setTokens({ access_token: 'OLD', refresh_token: 'R1' });
    server.on('GET', '/me', () => {
      server.setOnline(false); // the network drops right after the 401
      return fail(401, 'token_expired', '登录已过期');
    });
    const e = await request.get('/me').catch((x) => x);
    expect(e.code).toBe('network_error');
    expect(wx.login).not.toHaveBeenCalled();
    expect(session.getRefreshToken()).toBe('R1');
  });
});

describe('device id', () => {
  test('every call sends X-Device-Id: one random id, kept in storage across calls and restarts', async () => {
    const { server, session, request } = fresh();
    session.setTokens({ access_token: 'A1', refresh_token: 'R1' });
    server.on('GET', '/me', () => ok({ id: 1 }));
    server.on('POST', '/quizzes/{id}/attempts', () => ok({ id: 5, resumed: false }, 201));
    await request.get('/me');
    await request.post('/quizzes/9/attempts', {});
    await request.get('/me', { auth: false });
    const sent = server.calls.map((c) => c.header['X-Device-Id']);
    expect(sent).toHaveLength(3);
    expect(sent[0]).toMatch(/^[A-Za-z0-9._:-]{8,128}$/); // what the server accepts
    expect(new Set(sent).size).toBe(1);
    expect(wx.getStorageSync('device.id')).toBe(sent[0]);
    expect(wx.setStorageSync.mock.calls.filter((c) => c[0] === 'device.id')).toHaveLength(1); // made once

    // The app restarts (modules load again, storage stays): the same id; logging out keeps it.
    jest.resetModules();
    session.clear();
    const again = require('../api/request');
    require('../api/session').setTokens({ access_token: 'A2', refresh_token: 'R2' });
    await again.get('/me');
    expect(server.calls[3].header['X-Device-Id']).toBe(sent[0]);
  });

  test('another installation gets another id; a damaged stored value is replaced', async () => {
    const first = fresh();
    first.server.on('GET', '/health', () => ok({ status: 'ok' }));
    await first.request.get('/health', { auth: false });
    const second = fresh();
    second.server.on('GET', '/health', () => ok({ status: 'ok' }));
    wx.setStorageSync('device.id', 'bad id with spaces');
    await second.request.get('/health', { auth: false });
    const id = second.server.calls[0].header['X-Device-Id'];
    expect(id).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
    expect(id).not.toBe(first.server.calls[0].header['X-Device-Id']);
    expect(wx.getStorageSync('device.id')).toBe(id);
  });
});

describe('uploads', () => {
  test('chunked upload resumes with the chunks the server lacks, reading slices with FileSystemManager', async () => {
    const { server, session } = fresh();
    session.setTokens({ access_token: 'A1', refresh_token: 'R1' });
    const uploads = require('../api/uploads');
    const readFileSync = jest.fn((path, encoding, position, length) => new ArrayBuffer(length));
    wx.getFileSystemManager = jest.fn(() => ({ readFileSync, getFileInfo: ({ success }) => success({ size: 25 }) }));
    wx.setStorageSync('uploads.resume', { 'wxfile://big.mp4': 'U1' });
    server.on('GET', '/uploads/{id}', () => ok({ id: 'U1', status: 'pending', size: 25, chunk_size: 10, chunk_count: 3, received: [0, 2] }));
    server.on('PUT', '/uploads/{id}/chunks/{index}', ({ params }) => ok({ index: Number(params[1]), received: 3, chunk_count: 3 }));
    server.on('POST', '/uploads/{id}/complete', () => ok({ id: 'U1', status: 'ready', media: { kind: 'video' } }));
    const progress = [];
    const result = await uploads.uploadChunked('wxfile://big.mp4', { onProgress: (f) => progress.push(f) });
    expect(result.status).toBe('ready');
    const puts = server.calls.filter((c) => c.method === 'PUT');
    expect(puts.map((c) => c.path)).toEqual(['/uploads/U1/chunks/1']);
    expect(puts[0].data).toBeInstanceOf(ArrayBuffer);
    expect(readFileSync).toHaveBeenCalledWith('wxfile://big.mp4', undefined, 10, 10);
    expect(wx.request.mock.calls.find((c) => c[0].method === 'PUT')[0].header['content-type']).toBe('application/octet-stream');
    expect(progress).toEqual([1]);
    expect(wx.getStorageSync('uploads.resume')).toEqual({});
  });

  test('a small file goes to POST /uploads/direct as multipart field "file"', async () => {
    const { server, session } = fresh();
    session.setTokens({ access_token: 'A1', refresh_token: 'R1' });
    const uploads = require('../api/uploads');
    server.on('POST', '/uploads/direct', ({ data, token }) => ok({ id: 'D1', status: 'ready', media: { kind: 'image' }, token }, 201));
    const res = await uploads.uploadFile('wxfile://tmp/signature.png', { size: 2048 });
    expect(res.id).toBe('D1');
    expect(wx.uploadFile.mock.calls[0][0].name).toBe('file');
    expect(wx.uploadFile.mock.calls[0][0].header.Authorization).toBe('Bearer A1');
  });
});

describe('login', () => {
  test('concurrent logins share one wx.login code', async () => {
    const { server, request, session } = fresh();
    server.on('POST', '/auth/wechat-login', () => ok({ access_token: 'T', refresh_token: 'R', token_type: 'bearer', expires_in: 900, user: { id: 1 } }));
    await Promise.all([request.login(), request.login()]);
    expect(wx.login).toHaveBeenCalledTimes(1);
    expect(server.callsTo('POST', '/auth/wechat-login')).toHaveLength(1);
    expect(session.getAccessToken()).toBe('T');
  });

  test('a call without any token logs in through wx.login first', async () => {
    const { server, request } = fresh();
    server.on('POST', '/auth/wechat-login', () => ok({ access_token: 'T', refresh_token: 'R', token_type: 'bearer', expires_in: 900, user: { id: 1 } }));
    server.on('GET', '/campaigns', ({ token }) => (token === 'T' ? ok({ items: [], total: 0, page: 1, page_size: 50 }) : fail(401, 'unauthorized', '请先登录')));
    await expect(request.get('/campaigns')).resolves.toEqual({ items: [], total: 0, page: 1, page_size: 50 });
    expect(server.callsTo('POST', '/auth/refresh')).toHaveLength(0);
  });
});

test('DEV_LOGIN_LABEL logs in through the stand-in code instead of wx.login', async () => {
  const { server, request } = fresh();
  const config = require('../config');
  config.DEV_LOGIN_LABEL = 's01';
  server.on('POST', '/auth/wechat-login', () => ok({ access_token: 'T', refresh_token: 'R', token_type: 'bearer', expires_in: 900, user: { id: 1 } }));
  await request.login();
  expect(wx.login).not.toHaveBeenCalled();
  expect(server.callsTo('POST', '/auth/wechat-login')[0].data.code).toMatch(/^test:s01:\d+$/);
  config.DEV_LOGIN_LABEL = '';
});
