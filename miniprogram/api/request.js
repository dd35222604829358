// The only caller of wx.request. Adds the bearer token, refreshes it once on 401 (one shared
// refresh for all parallel calls; a failed refresh logs in again through wx.login), turns the
// server's error shape {code, message, errors?} into an ApiError and shows its Chinese message.
const config = require('../config');
const session = require('./session');

const MESSAGES = {
  network: '网络不给力，请检查网络后重试',
  timeout: '请求超时，请稍后重试',
  server: '服务器开小差了，请稍后重试',
  relogin: '登录已失效，请重新进入小程序',
  unknown: '操作失败，请稍后重试',
};

class ApiError extends Error {
  constructor({ status = 0, code = 'unknown', message = MESSAGES.unknown, errors = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.errors = errors;
  }

  get isNetwork() {
    return this.status === 0;
  }
}

function buildQuery(query) {
  if (!query) return '';
  const parts = Object.keys(query)
    .filter((key) => query[key] !== undefined && query[key] !== null && query[key] !== '')
    .map((key) => `${encodeURIComponent(key)}=${encodeURIComponent(query[key])}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

// A random id for this installation, made once and kept in storage: sent as X-Device-Id so
// staff can see many accounts answering from one phone (the server records nothing without it).
const DEVICE_KEY = 'device.id';
const DEVICE_ID = /^[A-Za-z0-9._:-]{8,128}$/;
let deviceId = null;

function randomHex(length) {
  let out = '';
  while (out.length < length) out += ('0000000' + Math.floor(Math.random() * 0x100000000).toString(16)).slice(-8);
  return out.slice(0, length);
}

function getDeviceId() {
  if (deviceId) return deviceId;
  try {
    const stored = wx.getStorageSync(DEVICE_KEY);
    if (typeof stored === 'string' && DEVICE_ID.test(stored)) {
      deviceId = stored;
      return deviceId;
    }
  } catch (e) {
    // storage unavailable: a fresh id for this run
  }
  deviceId = `mp-${Date.now().toString(36)}-${randomHex(24)}`;
  try {
    wx.setStorageSync(DEVICE_KEY, deviceId);
  } catch (e) {
    // storage full: the id lives for this run only
  }
  return deviceId;
}

function url(path, query) {
  return `${config.API_BASE_URL}${path}${buildQuery(query)}`;
}

// Turns any non-2xx answer into an ApiError; the server's Chinese `message` is kept.
function toApiError(status, body) {
  if (body && typeof body === 'object' && typeof body.message === 'string') {
    return new ApiError({ status, code: body.code || 'error', message: body.message, errors: body.errors || null });
  }
  if (status >= 500) return new ApiError({ status, code: 'server_error', message: MESSAGES.server });
  return new ApiError({ status, code: 'http_' + status, message: MESSAGES.unknown });
}

function networkError(errMsg) {
  const timeout = /timeout|超时/i.test(errMsg || '');
  return new ApiError({ status: 0, code: timeout ? 'timeout' : 'network_error', message: timeout ? MESSAGES.timeout : MESSAGES.network });
}

function parseBody(data) {
  if (typeof data === 'string' && data) {
    try {
      return JSON.parse(data);
    } catch (e) {
      return data;
    }
  }
  return data;
}

// One wx.request; resolves {status, data} for any HTTP answer, rejects only on network failure.
function call(method, path, { data, query, token, header, responseType } = {}) {
  return new Promise((resolve, reject) => {
    const headers = Object.assign({ 'X-Device-Id': getDeviceId() }, header);
    if (token) headers.Authorization = `Bearer ${token}`;
    const binary = typeof ArrayBuffer !== 'undefined' && data instanceof ArrayBuffer;
    if (binary) headers['content-type'] = 'application/octet-stream';
    else if (data !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    wx.request({
      url: url(path, query),
      method,
      data,
      header: headers,
      timeout: config.REQUEST_TIMEOUT_MS,
      responseType: responseType || 'text',
      dataType: 'json', // a non-JSON body stays a string; parseBody copes with both
      success: (res) => resolve({ status: res.statusCode, data: parseBody(res.data) }),
      fail: (err) => reject(networkError(err && err.errMsg)),
    });
  });
}

// --- login and refresh -------------------------------------------------------------------

let refreshing = null;

function wxLoginCode() {
  if (config.DEV_LOGIN_LABEL) return Promise.resolve(`test:${config.DEV_LOGIN_LABEL}:${Date.now()}${Math.floor(Math.random() * 1e6)}`);
  return new Promise((resolve, reject) => {
    wx.login({
      success: (res) => (res && res.code ? resolve(res.code) : reject(new ApiError({ code: 'wx_login_failed', message: MESSAGES.relogin }))),
      fail: () => reject(new ApiError({ code: 'wx_login_failed', message: MESSAGES.relogin })),
    });
  });
}

// wx.login → POST /auth/wechat-login; stores and returns the tokens (and the user).
// Concurrent callers share one login (a wx.login code works only once).
let loggingIn = null;
function login() {
  if (!loggingIn) {
    loggingIn = doLogin().then(
      (tokens) => {
        loggingIn = null;
        return tokens;
      },
      (error) => {
        loggingIn = null;
        throw error;
      }
    );
  }
  return loggingIn;
}

async function doLogin() {
  const code = await wxLoginCode();
  const res = await send('POST', '/auth/wechat-login', { data: { code } });
  if (res.status !== 200) throw toApiError(res.status, res.data);
  session.setTokens(res.data);
  if (res.data.user) session.setUser(res.data.user);
  return res.data;
}

async function refreshOrRelogin() {
  const refreshToken = session.getRefreshToken();
  if (refreshToken) {
    try {
      const res = await send('POST', '/auth/refresh', { token: refreshToken });
      if (res.status === 200 && res.data && res.data.access_token) {
        session.setAccessToken(res.data.access_token);
        return res.data.access_token;
      }
    } catch (e) {
      if (e.isNetwork) throw e; // offline: keep the tokens, the caller shows the retry message
    }
  }
  session.clear();
  const tokens = await login();
  return tokens.access_token;
}

// All callers that got a 401 wait for the same refresh.
function refreshToken() {
  if (!refreshing) {
    // (no Promise.prototype.finally: older iOS base libraries lack it)
    refreshing = refreshOrRelogin().then(
      (token) => {
        refreshing = null;
        return token;
      },
      (error) => {
        refreshing = null;
        throw error;
      }
    );
  }
  return refreshing;
}

function send(method, path, options) {
  return call(method, path, options);
}

// --- the request everyone uses -----------------------------------------------------------

function showError(error) {
  wx.showToast({ title: error.message, icon: 'none', duration: 2500 });
}

/**
 * request(method, path, options) → Promise of the parsed body.
 * options: data, query, auth (default true), silent (no toast), retries (network retries, GET: 1),
 *          header, responseType.
 * Rejects with ApiError {status, code, message, errors}.
 */
async function request(method, path, options = {}) {
  const auth = options.auth !== false;
  const retries = options.retries !== undefined ? options.retries : method === 'GET' ? 1 : 0;
  try {
    const used = auth ? session.getAccessToken() : null;
    let res = await withNetworkRetry(() => call(method, path, Object.assign({}, options, { token: used })), retries);
    if (auth && res.status === 401) {
      // Refresh once; a parallel call may already have refreshed the token, then reuse it.
      const current = session.getAccessToken();
      const token = !refreshing && current && current !== used ? current : await refreshToken();
      res = await call(method, path, Object.assign({}, options, { token }));
    }
    if (res.status >= 200 && res.status < 300) return res.data;
    throw toApiError(res.status, res.data);
  } catch (e) {
    const error = e instanceof ApiError ? e : new ApiError({ message: MESSAGES.unknown });
    if (!options.silent) showError(error);
    throw error;
  }
}

async function withNetworkRetry(fn, retries) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof ApiError) || !e.isNetwork || attempt >= retries) throw e;
    }
  }
}

const get = (path, options) => request('GET', path, options);
const post = (path, data, options) => request('POST', path, Object.assign({}, options, { data: data === undefined ? {} : data }));
const put = (path, data, options) => request('PUT', path, Object.assign({}, options, { data }));
const del = (path, options) => request('DELETE', path, options);

module.exports = {
  ApiError,
  MESSAGES,
  request,
  get,
  post,
  put,
  del,
  login,
  refreshToken,
  url,
  toApiError,
  showError,
  parseBody,
  getDeviceId,
};
