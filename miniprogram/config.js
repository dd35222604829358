// The one place to configure the mini-program.
// APPID: the mini-program's AppID from mp.weixin.qq.com (the placeholder opens in DevTools' tourist mode).
//        `npm run configure` copies it into project.config.json, which WeChat DevTools reads.
// API_BASE_URL: the backend's /api/v1 root. Production needs an HTTPS domain listed under
//        开发管理 → 服务器域名 (request, uploadFile and downloadFile legal domains).
module.exports = {
  APPID: 'touristappid',
  API_BASE_URL: 'http://127.0.0.1:8000/api/v1',
  // Development against the backend's WeChat stand-in only: log in as this demo label (s01, p01,
  // t01 …) by sending the stand-in code `test:<label>:<nonce>` instead of the wx.login code.
  // Leave empty for a real AppID (the real WeChat rejects such codes anyway).
  DEV_LOGIN_LABEL: '',
  // wx.request timeout, ms
  REQUEST_TIMEOUT_MS: 15000,
  // files up to this size go to POST /uploads/direct in one request; bigger ones are chunked
  DIRECT_UPLOAD_MAX_BYTES: 1024 * 1024,
};
