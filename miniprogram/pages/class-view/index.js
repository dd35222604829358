// Teachers: per pledge who has not signed yet (or waits for a parent), per quiz who has not taken it.
const campaigns = require('../../api/campaigns');
const pledges = require('../../api/pledges');
const quizzes = require('../../api/quizzes');
const { showError } = require('../../api/request');

// why a student is on a pledge's list (status of GET /pledges/{id}/stats `unsigned`)
const UNSIGNED_NOTE = { awaiting_guardian: '待家长签署', revoked: '签名已被撤销' };

// A campaign that does not reach this org (e.g. another school's, seen by a teacher who is also a
// parent there) has nothing to show here: its statistics answer org_outside_campaign and are left out.
async function reaching(statsPromise) {
  try {
    return await statsPromise;
  } catch (error) {
    if (error && error.code === 'org_outside_campaign') return null;
    showError(error);
    throw error;
  }
}

Page({
  data: { status: 'loading', message: '', name: '', pledges: [], quizzes: [] },

  onLoad(options) {
    this.orgId = Number(options.org_id);
    this.setData({ name: options.name ? decodeURIComponent(options.name) : '' });
    if (this.data.name) wx.setNavigationBarTitle({ title: this.data.name });
    return this.load();
  },
  onPullDownRefresh() {
    return this.load().then(() => wx.stopPullDownRefresh());
  },

  async load() {
    this.setData({ status: 'loading' });
    try {
      const page = await campaigns.listCampaigns({ status: 'active' });
      const lists = await Promise.all((page.items || []).map((c) => Promise.all([campaigns.listPledges(c.id), campaigns.listQuizzes(c.id)])));
      const pledgeList = [].concat(...lists.map((l) => l[0].items || []));
      const quizList = [].concat(...lists.map((l) => l[1].items || []));
      const pledgeRows = await Promise.all(pledgeList.map(async (p) => {
        const stats = await reaching(pledges.getStats(p.id, this.orgId, { silent: true }));
        if (!stats) return null;
        const unsigned = (stats.unsigned || []).map((s) => Object.assign({}, s, { note: UNSIGNED_NOTE[s.status] || '未签署' }));
        return { id: p.id, title: p.title, signed: stats.signed, enrolled: stats.enrolled, unsigned, children: stats.children || [] };
      }));
      const quizRows = await Promise.all(quizList.map(async (q) => {
        const stats = await reaching(quizzes.getStats(q.id, this.orgId, { silent: true }));
        if (!stats) return null;
        // a class answers the names (not_taken); a school or region how many of its students have not taken it
        const isClass = Array.isArray(stats.not_taken);
        // took and not_taken_count count the same students (enrolled here now); students counts who took it here
        const took = typeof stats.took === 'number' ? stats.took : stats.students || 0;
        const enrolled = typeof stats.enrolled === 'number' ? stats.enrolled : null;
        let notTaken = typeof stats.not_taken_count === 'number' ? stats.not_taken_count : null;
        if (isClass) notTaken = stats.not_taken.length;
        return { id: q.id, title: q.title, took, enrolled, notTaken, isClass, missing: stats.not_taken || [] };
      }));
      const shownPledges = pledgeRows.filter(Boolean);
      const shownQuizzes = quizRows.filter(Boolean);
      const empty = !shownPledges.length && !shownQuizzes.length;
      this.setData({ pledges: shownPledges, quizzes: shownQuizzes, status: empty ? 'empty' : 'ok', message: empty ? '当前没有进行中的承诺或竞赛' : '' });
    } catch (e) {
      this.setData({ status: 'error', message: e.message });
    }
  },
  onRetry() {
    return this.load();
  },

  // Staff take the list away as Excel: opened in WeChat's document viewer, whose menu forwards
  // it to a chat or saves it. A refusal (e.g. export_too_large) shows the server's message.
  async onExport(e) {
    const { kind, id } = e.currentTarget.dataset;
    if (this.exporting) return;
    this.exporting = true;
    wx.showLoading({ title: '正在导出', mask: true });
    try {
      const quiet = { silent: true }; // the toast comes after hideLoading, which would close it
      const filePath = kind === 'quiz' ? await quizzes.downloadResults(id, this.orgId, quiet) : await pledges.downloadSignatures(id, this.orgId, quiet);
      wx.hideLoading();
      await wx.openDocument({ filePath, fileType: 'xlsx', showMenu: true });
    } catch (error) {
      wx.hideLoading();
      const message = error && error.name === 'ApiError' ? error.message : '无法打开文件，请稍后重试';
      wx.showToast({ title: message, icon: 'none', duration: 2500 });
    } finally {
      this.exporting = false;
    }
  },
});
