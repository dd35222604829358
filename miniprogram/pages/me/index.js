// Me: profile and memberships, the family code (students, fetched only when they tap: every fetch
// issues a code a stranger could guess), children (parents), my certificates and quiz results;
// teachers open the class view.
const auth = require('../../api/auth');
const familyCode = require('../../utils/family-code');
const overview = require('../../utils/overview');
const nav = require('../../utils/nav');
const { roleName, date } = require('../../utils/format');

const STAFF_ROLES = ['teacher', 'school_admin', 'region_admin'];

Page({
  data: { status: 'loading', message: '', me: null, memberships: [], isStudent: false, familyCode: '', familyCodeExpires: '', familyCodeLoading: false, children: [], certificates: [], results: [], staffOrgs: [] },

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
    } catch (e) {
      if (!quiet) this.setData({ status: 'error', message: e.message });
    }
  },

  // 「显示家庭码」: asked for only now, never on load
  showFamilyCode() {
    return familyCode.showFamilyCode(this);
  },

  async loadRecords() {
    try {
      const campaigns = await overview.load();
      const certificates = [];
      const results = [];
      campaigns.forEach((c) => {
        c.pledges.forEach((p) => {
          if (p.my_signature && p.my_signature.serial) certificates.push({ serial: p.my_signature.serial, title: p.title, status: p.progress.text, signedOn: date(p.my_signature.signed_at) });
        });
        c.quizzes.forEach((q) => {
          const levels = (q.me && q.me.levels) || [];
          if (levels.some((l) => l.attempts_used)) results.push({ id: q.id, title: q.title, text: q.progress.text });
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
    nav.go('/pages/certificate/index', { serial: e.currentTarget.dataset.serial, mine: 1 });
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
