// A certificate, a pledge's or (`kind=quiz`) a passed quiz's: poster, verification (masked name,
// validity), save to album, share to friends and Moments. Public and login-free: pages opened
// from Moments run in single-page mode (scene 1154) where wx.login is not available.
const pledges = require('../../api/pledges');
const quizzes = require('../../api/quizzes');
const { certificateSerial, certificateKind } = require('../../utils/scene');
const { date } = require('../../utils/format');

const SINGLE_PAGE_SCENE = 1154;

// The heading, and whether there is a poster: a family pledge waiting for the parent has none
// yet (the server answers 409), a revoked pledge certificate has one with the revoked mark, a
// quiz certificate only while it holds.
function describe(kind, c) {
  if (c.valid) return { heading: '✅ 证书有效', state: 'valid', hasPoster: true };
  if (c.revoked) return { heading: '⚠️ 证书已撤销', state: 'revoked', hasPoster: kind === 'pledge' };
  if (kind === 'pledge' && c.status === 'awaiting_guardian') return { heading: '⏳ 等待家长共同签署', state: 'waiting', hasPoster: false };
  return { heading: '⚠️ 证书已失效', state: 'invalid', hasPoster: false };
}

Page({
  data: { status: 'loading', message: '', serial: '', kind: 'pledge', certificate: null, heading: '', state: '', hasPoster: false, imageUrl: '', signedOn: '', mine: false, singlePage: false, saving: false },

  onLoad(options = {}) {
    const serial = certificateSerial(options);
    const enter = wx.getEnterOptionsSync ? wx.getEnterOptionsSync() : {};
    this.setData({ serial, kind: certificateKind(options), mine: options.mine === '1' || options.mine === 1, singlePage: enter && enter.scene === SINGLE_PAGE_SCENE });
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
      const api = this.api();
      const certificate = await api.verifyCertificate(this.data.serial);
      const shown = describe(this.data.kind, certificate);
      this.setData(Object.assign(shown, { certificate, imageUrl: shown.hasPoster ? api.certificateImageUrl(this.data.serial) : '', signedOn: date(certificate.signed_at || certificate.passed_at), status: 'ok' }));
    } catch (e) {
      const message = e.status === 404 ? '证书不存在，请核对证书编号' : e.message;
      this.setData({ status: 'error', message });
    }
  },

  api() {
    return this.data.kind === 'quiz' ? quizzes : pledges;
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
      const filePath = await this.api().downloadCertificateImage(this.data.serial);
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
    if (!c) return '清朗校园 · 争做中国好网民';
    if (this.data.kind === 'quiz') return `${c.name_masked} 在《${c.title}》中成绩合格，争做中国好网民`;
    return `${c.name_masked} 签署了《${c.title}》，争做中国好网民`;
  },

  shareQuery() {
    return `serial=${encodeURIComponent(this.data.serial)}${this.data.kind === 'quiz' ? '&kind=quiz' : ''}`;
  },

  onShareAppMessage() {
    return { title: this.shareTitle(), path: `/pages/certificate/index?${this.shareQuery()}`, imageUrl: this.data.imageUrl };
  },

  // 分享到朋友圈: opened there in single-page mode, so this page needs no login
  onShareTimeline() {
    return { title: this.shareTitle(), query: this.shareQuery(), imageUrl: this.data.imageUrl };
  },
});
