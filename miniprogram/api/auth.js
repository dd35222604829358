const { get, post, login } = require('./request');
const session = require('./session');

module.exports = {
  // wx.login → POST /auth/wechat-login (in request.js, which also uses it to log in again)
  wechatLogin: login,
  getMe: () => get('/me'),
  passwordLogin: (username, password) => post('/auth/password-login', { username, password }, { auth: false }),
  isLoggedIn: session.isLoggedIn,
  logout: session.clear,
};
