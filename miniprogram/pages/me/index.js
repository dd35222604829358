// Me: profile and memberships, the family code (students, fetched only when they tap: every fetch
// issues a code a stranger could guess) and who is linked as their guardian (they may remove an
// account they do not know), children (parents), my certificates and quiz results; teachers open
// the class view.
const auth = require('../../api/auth');
const family = require('../../api/family');
const familyCode = require('../../utils/family-code');
const overview = require('../../utils/overview');
const nav = require('../../utils/nav');
const { roleName, date } = require('../../utils/format');

const STAFF_ROLES = ['teacher', 'school_admin', 'region_admin'];

Page({
  data: { status: 'loading', message: '', me: null, memberships: [], isStudent: false, familyCode: '', familyCodeExpires: '', familyCodeLoading: false, guardians: [], children: [], certificates: [], results: [], staffOrgs: [] },

  onLoad() {
    return this.load();
  },
  onShow() {
    if (this.loaded) this.load(true);
  },
  onPullDownRefresh() {
    return this.load(true).then(() => wx.stopPullDownRefresh());
  },

  async load(quiet) {
    if (!quiet) this.setData({ status: 'loading' });
    try {
      const me = await auth.getMe();
      const memberships = (me.memberships || []).map((m) => Object.assign({}, m, { roleText: roleName(m.role) }));
      const isStudent = memberships.some((m) => m.role === 'student');
      const staffOrgs = memberships.filter((m) => STAFF_ROLES.indexOf(m.role) >= 0);
      this.loaded = true;
      this.setData({ me, memberships, isStudent, children: me.children || [], staffOrgs, status: 'ok' });
      if (this.familyCodeExpiresAt && Date.now() >= this.familyCodeExpiresAt) this.setData({ familyCode: '', familyCodeExpires: '' });
      this.loadRecords();
      if (isStudent) this.loadGuardians();
    } catch (e) {
      if (!quiet) this.setData({ status: 'error', message: e.message });
    }
  },

  // 「显示家庭码」: asked for only now, never on load
  showFamilyCode() {
    return familyCode.showFamilyCode(this);
  },

  async loadGuardians() {
    try {
      const links = await family.myLinks();
      const guardians = (links.guardians || []).map((g) => ({ id: g.id, name: (g.person && g.person.real_name) || '家长（未填写姓名）', linkedOn: date(g.created_at) }));
      this.setData({ guardians });
    } catch (e) {
      // the rest of the page still shows
    }
  },

  // 「解除」: after a confirmation; the list is read again either way
  removeGuardian(e) {
    const { id, name } = e.currentTarget.dataset;
    wx.showModal({
      title: '解除绑定',
      content: `解除后，${name}将不能再为你共同签署家庭承诺。`,
      confirmText: '解除',
      success: async (res) => {
        if (!res.confirm) return;
        try {
          await family.removeLink(id);
          wx.showToast({ title: '已解除', icon: 'success' });
        } catch (err) {
          wx.showToast({ title: err.message, icon: 'none' });
        }
        await this.loadGuardians();
      },
    });
  },

  async loadRecords() {
    try {
      const campaigns = await overview.load();
      const certificates = [];
      const results = [];
      campaigns.forEach((c) => {
        c.pledges.forEach((p) => {
          if (p.my_signature && p.my_signature.serial) certificates.push({ serial: p.my_signature.serial, title: p.title, status: p.progress.text, signedOn: date(p.my_signature.signed_at) });
          // a parent: the family certificates co-signed with each child
          (p.my_signature ? [] : p.children || []).forEach((child) => {
            if (child.serial) certificates.push({ serial: child.serial, title: `${p.title}（${child.real_name || '孩子'}）`, status: child.revoked ? '已撤销' : '已共同签署', signedOn: '' });
          });
        });
        c.quizzes.forEach((q) => {
          const levels = (q.me && q.me.levels) || [];
          if (levels.some((l) => l.attempts_used)) results.push({ id: q.id, title: q.title, text: q.progress.text });
          if (q.me && q.me.certificate_serial) certificates.push({ serial: q.me.certificate_serial, kind: 'quiz', title: q.title, status: '竞赛合格证书', signedOn: '' });
        });
      });
      this.setData({ certificates, results });
    } catch (e) {
      // the profile still shows
    }
  },

  onRetry() {
    return this.load();
  },
  openCertificate(e) {
    const { serial, kind } = e.currentTarget.dataset;
    nav.go('/pages/certificate/index', { serial, kind: kind || undefined, mine: 1 });
  },
  openQuiz(e) {
    nav.go('/pages/quiz/index', { id: e.currentTarget.dataset.id });
  },
  openClass(e) {
    const { id, name } = e.currentTarget.dataset;
    nav.go('/pages/class-view/index', { org_id: id, name });
  },
  goJoin() {
    nav.go('/pages/join/index');
  },
  goFamily() {
    nav.go('/pages/family-bind/index');
  },
});
