// Pledge: read, (draw a handwritten signature,) sign. Family mode: the child signs first and
// waits for a parent; a linked parent co-signs with child_id. Then the certificate.
const pledges = require('../../api/pledges');
const auth = require('../../api/auth');
const family = require('../../api/family');
const uploads = require('../../api/uploads');
const nav = require('../../utils/nav');
const { dateTime } = require('../../utils/format');

Page({
  data: {
    status: 'loading',
    message: '',
    pledge: null,
    signature: null,
    view: 'read', // read | waiting | cosign | done
    isParent: false,
    children: [],
    childIndex: 0,
    familyCode: '',
    submitting: false,
    signedAtText: '',
  },

  onLoad(options) {
    this.pledgeId = Number(options.id);
    return this.load();
  },

  async load() {
    this.setData({ status: 'loading', message: '' });
    try {
      const [pledge, me] = await Promise.all([pledges.getPledge(this.pledgeId), auth.getMe()]);
      const isStudent = (me.memberships || []).some((m) => m.role === 'student');
      const children = me.children || [];
      const isParent = pledge.mode === 'family' && children.length > 0 && !isStudent;
      const signature = pledge.my_signature && pledge.my_signature.serial ? pledge.my_signature : null;
      this.setData({ pledge, isParent, children, status: 'ok' });
      wx.setNavigationBarTitle({ title: pledge.title });
      this.show(signature);
    } catch (e) {
      this.setData({ status: 'error', message: e.message });
    }
  },

  show(signature) {
    let view = 'read';
    if (this.data.isParent) view = signature && signature.status === 'complete' ? 'done' : 'cosign';
    else if (signature && signature.status === 'awaiting_guardian') view = 'waiting';
    else if (signature) view = 'done';
    this.setData({ signature, view, signedAtText: signature ? dateTime(signature.signed_at) : '' });
    if (view === 'waiting') this.loadFamilyCode();
  },

  async loadFamilyCode() {
    try {
      const res = await family.getFamilyCode();
      this.setData({ familyCode: res.code });
    } catch (e) {
      // the waiting screen works without it
    }
  },

  onPickChild(e) {
    this.setData({ childIndex: Number(e.currentTarget.dataset.index) });
  },

  async handwriting() {
    if (!this.data.pledge.requires_handwriting) return undefined;
    const pad = this.selectComponent('#pad');
    if (!pad || pad.isEmpty()) throw new Error('请先在签名区手写签名');
    const path = await pad.exportImage();
    // a canvas PNG is small: one multipart request (POST /uploads/direct)
    const uploaded = await uploads.uploadDirect(path);
    return uploaded.id;
  },

  // student or individual signer
  sign() {
    return this.submit({});
  },

  // parent co-signs the chosen child's family signature
  cosign() {
    const child = this.data.children[this.data.childIndex];
    if (!child) return undefined;
    return this.submit({ child_id: child.id });
  },

  async submit(body) {
    if (this.data.submitting) return;
    this.setData({ submitting: true });
    try {
      const uploadId = await this.handwriting();
      if (uploadId) body.handwriting_upload_id = uploadId;
      const signature = await pledges.sign(this.pledgeId, body);
      if (body.child_id) {
        this.cosigned = signature;
        this.setData({ signature, view: 'done', signedAtText: dateTime(signature.signed_at) });
      } else {
        this.show(signature);
      }
      wx.showToast({ title: signature.status === 'complete' ? '签署成功' : '已签署，等待家长', icon: 'success' });
    } catch (e) {
      if (!e.code) wx.showToast({ title: e.message, icon: 'none' });
    } finally {
      this.setData({ submitting: false });
    }
  },

  refresh() {
    return this.load();
  },
  onRetry() {
    return this.load();
  },

  openCertificate() {
    if (this.data.signature) nav.go('/pages/certificate/index', { serial: this.data.signature.serial, mine: 1 });
  },
  bindParentHelp() {
    wx.showModal({
      title: '如何邀请家长',
      content: `请家长打开“清朗校园”小程序，选择“我是家长：绑定孩子”，输入你的家庭码 ${this.data.familyCode || '（见“我的”页面）'}，然后打开本承诺共同签署。`,
      showCancel: false,
    });
  },
});
