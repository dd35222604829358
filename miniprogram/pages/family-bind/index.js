// A parent binds a child by the child's family code (shown on the child's "我的" page).
const family = require('../../api/family');

const CODE = /^\d{8}$/; // 8 digits, a leading 0 included: kept as a string

Page({
  data: { code: '', submitting: false, child: null, error: '' },

  onCodeInput(e) {
    this.setData({ code: String(e.detail.value || '').replace(/\s+/g, ''), error: '' });
  },

  async bind() {
    const code = this.data.code;
    if (!CODE.test(code)) {
      this.setData({ error: '家庭码是 8 位数字，请孩子在“我的”页面点“显示家庭码”查看' });
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
