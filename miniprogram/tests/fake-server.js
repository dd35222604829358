// A fake backend behind the mocked wx.request / wx.uploadFile / wx.downloadFile: routes by
// method and path (below /api/v1), answers asynchronously, records every call.
const config = require('../config');

function createServer() {
  const routes = [];
  const calls = [];
  let online = true;

  function match(method, path) {
    for (const r of routes) {
      if (r.method !== method) continue;
      const m = r.regex.exec(path);
      if (m) return { route: r, params: m.slice(1) };
    }
    return null;
  }

  function handle(method, url, data, header) {
    const full = url.slice(config.API_BASE_URL.length);
    const [path, qs] = full.split('?');
    const query = {};
    (qs || '').split('&').filter(Boolean).forEach((kv) => {
      const [k, v] = kv.split('=');
      query[decodeURIComponent(k)] = decodeURIComponent(v);
    });
    const token = ((header && header.Authorization) || '').replace(/^Bearer /, '') || null;
    const call = { method, path, query, data, token, header: header || {} };
    calls.push(call);
    const found = match(method, path);
    if (!found) return { status: 404, body: { code: 'not_found', message: '接口不存在' } };
    const out = found.route.handler(Object.assign({ params: found.params }, call));
    return out;
  }

  const server = {
    calls,
    on(method, pattern, handler) {
      const regex = new RegExp(`^${pattern.replace(/\{[^}]+\}/g, '([^/]+)')}$`);
      routes.unshift({ method, regex, handler });
      return server;
    },
    // The network comes or goes; wx.onNetworkStatusChange listeners hear of it unless `unnoticed`
    // (the phone does not always report a flaky connection).
    setOnline(value, { unnoticed = false } = {}) {
      online = value;
      if (!unnoticed) wx.__networkChanged(value);
    },
    callsTo(method, path) {
      return calls.filter((c) => c.method === method && c.path === path);
    },
    install() {
      wx.request = jest.fn((opts) => {
        setTimeout(async () => {
          if (!online) {
            opts.fail && opts.fail({ errMsg: 'request:fail ' });
            return;
          }
          const out = await handle(opts.method || 'GET', opts.url, opts.data, opts.header);
          opts.success && opts.success({ statusCode: out.status, data: out.body === undefined ? '' : out.body, header: {} });
        }, 0);
        return { abort() {} };
      });
      wx.uploadFile = jest.fn((opts) => {
        setTimeout(async () => {
          if (!online) return opts.fail && opts.fail({ errMsg: 'uploadFile:fail' });
          const out = await handle('POST', opts.url, { filePath: opts.filePath, name: opts.name }, opts.header);
          return opts.success && opts.success({ statusCode: out.status, data: JSON.stringify(out.body) });
        }, 0);
      });
      // Like WeChat, a refused download is saved too: its JSON error body is in the temp file.
      const saved = {};
      const files = wx.getFileSystemManager();
      wx.getFileSystemManager = jest.fn(() => Object.assign({}, files, {
        readFileSync: jest.fn((filePath, encoding) => (filePath in saved ? saved[filePath] : files.readFileSync(filePath, encoding))),
      }));
      wx.downloadFile = jest.fn((opts) => {
        setTimeout(async () => {
          if (!online) return opts.fail && opts.fail({ errMsg: 'downloadFile:fail' });
          const out = await handle('GET', opts.url, undefined, opts.header);
          let tempFilePath = 'wxfile://tmp/download.png';
          if (out.status !== 200) {
            tempFilePath = `wxfile://tmp/refused-${Object.keys(saved).length}`;
            saved[tempFilePath] = JSON.stringify(out.body);
          }
          return opts.success && opts.success({ statusCode: out.status, tempFilePath });
        }, 0);
      });
      return server;
    },
  };
  return server;
}

const ok = (body, status = 200) => ({ status, body });
const fail = (status, code, message, errors) => ({ status, body: Object.assign({ code, message }, errors ? { errors } : {}) });

module.exports = { createServer, ok, fail };
