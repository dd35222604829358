// Pledge: read, (draw a handwritten signature,) sign. Family mode: the child signs first and
// waits for a parent; a linked parent co-signs with child_id. Then the certificate.
// A parent's screen follows the chosen child's state from GET /pledges/{id} `children`:
// not signed yet → waiting for the child, awaiting_guardian → co-sign, complete → done.
const pledges = require('../../api/pledges');
const auth = require('../../api/auth');
const familyCode = require('../../utils/family-code');
const uploads = require('../../api/uploads');
const nav = require('../../utils/nav');
const { dateTime } = require('../../utils/format');

// where a linked child stands on this family pledge, for a parent (the `children` of GET /pledges/{id})
function childState(child) {
  if (child.revoked) return { view: 'childWaiting', stateText: '签名已撤销' };
  if (child.status === 'complete') return { view: 'done', stateText: '已完成' };
  if (child.status === 'awaiting_guardian') return { view: 'cosign', stateText: '待你共同签署' };
  if (child.status === undefined) return { view: 'cosign', stateText: '' }; // state unknown: the server decides
  return { view: 'childWaiting', stateText: '孩子还未签署' };
}

Page({
  data: {
    status: 'loading',
    message: '',
    pledge: null,
    signature: null,
    view: 'read', // read | waiting | revoked | cosign | childWaiting | done
    isParent: false,
    guardianOnly: false,
    children: [],
    childIndex: 0,
    familyCode: '',
    familyCodeExpires: '',
    familyCodeLoading: false,
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
      const linked = Array.isArray(pledge.children) && pledge.children.length ? pledge.children : me.children || [];
      const children = linked.map((c) => Object.assign({}, c, { stateText: childState(c).stateText }));
      const isParent = pledge.mode === 'family' && children.length > 0 && !isStudent;
      // someone who sees the campaign only through a child (the server says so): an individual
      // pledge is the child's to sign
      const guardianOnly = pledge.mode === 'individual' && Boolean(pledge.guardian_only) && !pledge.my_signature;
      const signature = pledge.my_signature && pledge.my_signature.serial ? pledge.my_signature : null;
      this.setData({ pledge, isParent, guardianOnly, children, childIndex: isParent ? this.pickChild(children) : 0, status: 'ok' });
      wx.setNavigationBarTitle({ title: pledge.title });
      this.show(signature);
    } catch (e) {
      this.setData({ status: 'error', message: e.message });
    }
  },

  // the child chosen before (a refresh), else the first one waiting for this parent
  pickChild(children) {
    const before = this.data.children[this.data.childIndex];
    const same = before ? children.findIndex((c) => c.id === before.id) : -1;
    if (same >= 0) return same;
    const waiting = children.findIndex((c) => childState(c).view === 'cosign');
    return waiting >= 0 ? waiting : 0;
  },

  show(signature) {
    if (this.data.isParent) {
      this.showChild(this.data.childIndex);
      return;
    }
    let view = 'read';
    if (signature && signature.revoked) view = 'revoked';
    else if (signature && signature.status === 'awaiting_guardian') view = 'waiting';
    else if (signature) view = 'done';
    this.setData({ signature, view, signedAtText: signature ? dateTime(signature.signed_at) : '' });
  },

  // 「显示家庭码」 on the waiting screen: asked for only when tapped (every fetch issues a code)
  showFamilyCode() {
    return familyCode.showFamilyCode(this);
  },

  // a parent's screen for one child; the signature (with its serial) once known
  showChild(index) {
    const child = this.data.children[index];
    // the list and GET /pledges/{id} give a completed child's certificate serial
    const known = child && child.serial && !child.revoked ? { serial: child.serial, status: child.status } : null;
    const signature = child ? (this.signatures || {})[child.id] || known : null;
    const view = child ? childState(child).view : 'cosign';
    this.setData({ childIndex: index, view, signature, signedAtText: signature && signature.signed_at ? dateTime(signature.signed_at) : '' });
  },

  onPickChild(e) {
    if (this.data.submitting) return;
    this.showChild(Number(e.currentTarget.dataset.index));
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
        this.remember(body.child_id, signature);
        this.showChild(this.data.childIndex);
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

  // a co-signed child's signature: its serial opens the certificate
  remember(childId, signature) {
    this.signatures = Object.assign({}, this.signatures, { [childId]: signature });
    const children = this.data.children.map((c) => {
      if (c.id !== childId) return c;
      const updated = Object.assign({}, c, { status: signature.status, revoked: Boolean(signature.revoked) });
      return Object.assign(updated, { stateText: childState(updated).stateText });
    });
    this.setData({ children });
  },

  refresh() {
    return this.load();
  },
  onRetry() {
    return this.load();
  },

  openCertificate() {
    const signature = this.data.signature;
    if (signature && signature.serial) nav.go('/pages/certificate/index', { serial: signature.serial, mine: 1 });
  },
  bindParentHelp() {
    wx.showModal({
      title: '如何邀请家长',
      content: `请家长在自己的微信里打开“清朗校园”小程序，选择“我是家长：绑定孩子”，输入你的家庭码${this.data.familyCode ? ` ${this.data.familyCode}` : '（点“显示家庭码”获取）'}，然后打开本承诺共同签署。`,
      showCancel: false,
    });
  },
});
