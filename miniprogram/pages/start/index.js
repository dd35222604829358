// Start: wx.login → POST /auth/wechat-login, then home, or the first steps for a new user.
const auth = require('../../api/auth');
const nav = require('../../utils/nav');

Page({
  data: { status: 'loading', message: '正在登录…', user: null },

  onLoad() {
    return this.start();
  },

  async start() {
    if (this.busy) return;
    this.busy = true;
    this.setData({ status: 'loading', message: '正在登录…' });
    try {
      if (!auth.isLoggedIn()) await auth.wechatLogin();
      const me = await auth.getMe();
      const joined = (me.memberships || []).length > 0 || (me.children || []).length > 0;
      if (joined) {
        nav.home();
        return;
      }
      this.setData({ status: 'ok', user: me });
    } catch (e) {
      this.setData({ status: 'error', message: e.message || '登录失败，请重试' });
    } finally {
      this.busy = false;
    }
  },

  onRetry() {
    return this.start();
  },
  goJoin() {
    nav.go('/pages/join/index');
  },
  goFamily() {
    nav.go('/pages/family-bind/index');
  },
});
