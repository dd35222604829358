// Join: the code comes from the 小程序码 scene, a scan or typing; preview, then the real name.
const orgs = require('../../api/orgs');
const nav = require('../../utils/nav');
const { inviteCode } = require('../../utils/scene');
const { roleName } = require('../../utils/format');

Page({
  data: { code: '', realName: '', preview: null, orgPath: '', roleText: '', previewing: false, submitting: false, error: '' },

  onLoad(options) {
    const code = inviteCode(options || {});
    if (code) {
      this.setData({ code });
      return this.preview();
    }
    return undefined;
  },

  onCodeInput(e) {
    this.setData({ code: (e.detail.value || '').trim().toUpperCase(), preview: null, error: '' });
  },
  onNameInput(e) {
    this.setData({ realName: e.detail.value || '' });
  },

  scan() {
    wx.scanCode({
      onlyFromCamera: false,
      success: (res) => {
        const path = res.path || '';
        const m = /scene=([^&]+)/.exec(path);
        const code = inviteCode(m ? { scene: m[1] } : { code: res.result || '' });
        if (code) {
          this.setData({ code, preview: null, error: '' });
          this.preview();
        }
      },
    });
  },

  async preview() {
    const code = this.data.code;
    if (!code) {
      this.setData({ error: '请输入邀请码' });
      return;
    }
    if (this.data.previewing) return;
    this.setData({ previewing: true, error: '' });
    try {
      const preview = await orgs.previewInvite(code);
      const path = (preview.parents || []).map((o) => o.name).concat(preview.org ? [preview.org.name] : []);
      this.setData({ preview, orgPath: path.join(' / '), roleText: roleName(preview.role) });
    } catch (e) {
      this.setData({ error: e.message, preview: null });
    } finally {
      this.setData({ previewing: false });
    }
  },

  async accept() {
    const realName = this.data.realName.trim();
    if (!this.data.preview) return;
    if (!realName) {
      this.setData({ error: '请输入真实姓名' });
      return;
    }
    if (this.data.submitting) return;
    this.setData({ submitting: true, error: '' });
    try {
      const membership = await orgs.acceptInvite(this.data.code, realName);
      wx.showToast({ title: `已加入${membership.org_name || ''}`, icon: 'success' });
      nav.home();
    } catch (e) {
      this.setData({ error: e.message });
    } finally {
      this.setData({ submitting: false });
    }
  },
});
