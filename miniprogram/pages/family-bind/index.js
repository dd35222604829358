// A parent binds a child by the child's family code (shown on the child's "我的" page).
const family = require('../../api/family');

Page({
  data: { code: '', submitting: false, child: null, error: '' },

  onCodeInput(e) {
    this.setData({ code: (e.detail.value || '').trim().toUpperCase(), error: '' });
  },

  async bind() {
    const code = this.data.code;
    if (code.length < 4) {
      this.setData({ error: '请输入孩子“我的”页面上显示的家庭码' });
      return;
    }
    if (this.data.submitting) return;
    this.setData({ submitting: true, error: '' });
    try {
      const link = await family.bindChild(code);
      this.setData({ child: link.child, code: '' });
      wx.showToast({ title: '绑定成功', icon: 'success' });
    } catch (e) {
      this.setData({ error: e.message });
    } finally {
      this.setData({ submitting: false });
    }
  },

  done() {
    wx.reLaunch({ url: '/pages/home/index' });
  },
});
