// Teachers: per pledge who has not signed yet (or waits for a parent), per quiz who has not taken it.
const campaigns = require('../../api/campaigns');
const pledges = require('../../api/pledges');
const quizzes = require('../../api/quizzes');

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
        const stats = await pledges.getStats(p.id, this.orgId);
        const unsigned = (stats.unsigned || []).map((s) => Object.assign({}, s, { note: s.status === 'awaiting_guardian' ? '待家长签署' : '未签署' }));
        return { id: p.id, title: p.title, signed: stats.signed, enrolled: stats.enrolled, unsigned, children: stats.children || [] };
      }));
      const quizRows = await Promise.all(quizList.map(async (q) => {
        const stats = await quizzes.getStats(q.id, this.orgId);
        // a class answers the names (not_taken); a school or region the counts of takers and enrolled
        const isClass = Array.isArray(stats.not_taken);
        const took = stats.students || 0;
        const enrolled = typeof stats.enrolled === 'number' ? stats.enrolled : null;
        let notTaken = null;
        if (isClass) notTaken = stats.not_taken.length;
        else if (enrolled !== null) notTaken = Math.max(0, enrolled - took);
        return { id: q.id, title: q.title, took, enrolled, notTaken, isClass, missing: stats.not_taken || [] };
      }));
      const empty = !pledgeRows.length && !quizRows.length;
      this.setData({ pledges: pledgeRows, quizzes: quizRows, status: empty ? 'empty' : 'ok', message: empty ? '当前没有进行中的承诺或竞赛' : '' });
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
      const filePath = kind === 'quiz' ? await quizzes.downloadResults(id, this.orgId) : await pledges.downloadSignatures(id, this.orgId);
      wx.hideLoading();
      await wx.openDocument({ filePath, fileType: 'xlsx', showMenu: true });
    } catch (error) {
      wx.hideLoading();
      if (!(error instanceof Error) || error.name !== 'ApiError') wx.showToast({ title: '无法打开文件，请稍后重试', icon: 'none' });
    } finally {
      this.exporting = false;
    }
  },
});
