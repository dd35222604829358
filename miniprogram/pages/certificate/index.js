// The certificate: poster, verification (masked name, validity), save to album, share to
// friends and Moments. Public and login-free: pages opened from Moments run in single-page mode
// (scene 1154) where wx.login is not available.
const pledges = require('../../api/pledges');
const { certificateSerial } = require('../../utils/scene');
const { date } = require('../../utils/format');

const SINGLE_PAGE_SCENE = 1154;

Page({
  data: { status: 'loading', message: '', serial: '', certificate: null, imageUrl: '', signedOn: '', mine: false, singlePage: false, saving: false },

  onLoad(options = {}) {
    const serial = certificateSerial(options);
    const enter = wx.getEnterOptionsSync ? wx.getEnterOptionsSync() : {};
    this.setData({ serial, mine: options.mine === '1' || options.mine === 1, singlePage: enter && enter.scene === SINGLE_PAGE_SCENE });
    if (wx.showShareMenu) wx.showShareMenu({ withShareTicket: false, menus: ['shareAppMessage', 'shareTimeline'] });
    return this.load();
  },

  async load() {
    if (!this.data.serial) {
      this.setData({ status: 'error', message: '没有找到证书编号' });
      return;
    }
    this.setData({ status: 'loading', message: '' });
    try {
      const certificate = await pledges.verifyCertificate(this.data.serial);
      this.setData({ certificate, imageUrl: pledges.certificateImageUrl(this.data.serial), signedOn: date(certificate.signed_at), status: 'ok' });
    } catch (e) {
      const message = e.status === 404 ? '证书不存在，请核对证书编号' : e.message;
      this.setData({ status: 'error', message });
    }
  },

  onRetry() {
    return this.load();
  },

  previewPoster() {
    wx.previewImage({ urls: [this.data.imageUrl] });
  },

  async saveToAlbum() {
    if (this.data.saving) return;
    this.setData({ saving: true });
    try {
      const filePath = await pledges.downloadCertificateImage(this.data.serial);
      await new Promise((resolve, reject) => wx.saveImageToPhotosAlbum({ filePath, success: resolve, fail: reject }));
      wx.showToast({ title: '已保存到相册', icon: 'success' });
    } catch (e) {
      const msg = (e && e.errMsg) || '';
      if (/auth|authorize|deny/i.test(msg)) {
        wx.showModal({
          title: '需要相册权限',
          content: '请允许保存图片到相册，以便保存证书海报',
          confirmText: '去设置',
          success: (res) => res.confirm && wx.openSetting(),
        });
      } else if (!/cancel/i.test(msg) && !e.code) {
        wx.showToast({ title: '保存失败，请重试', icon: 'none' });
      }
    } finally {
      this.setData({ saving: false });
    }
  },

  shareTitle() {
    const c = this.data.certificate;
    return c ? `${c.name_masked} 签署了《${c.title}》，争做中国好网民` : '清朗校园 · 争做中国好网民';
  },

  onShareAppMessage() {
    return { title: this.shareTitle(), path: `/pages/certificate/index?serial=${encodeURIComponent(this.data.serial)}`, imageUrl: this.data.imageUrl };
  },

  // 分享到朋友圈: opened there in single-page mode, so this page needs no login
  onShareTimeline() {
    return { title: this.shareTitle(), query: `serial=${encodeURIComponent(this.data.serial)}`, imageUrl: this.data.imageUrl };
  },
});
