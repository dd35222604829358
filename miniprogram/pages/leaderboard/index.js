// Leaderboard: best result per student (score desc, then time asc) and the org's children.
const quizzes = require('../../api/quizzes');
const { duration } = require('../../utils/format');

Page({
  data: { status: 'loading', message: '', items: [], me: null, orgs: [] },

  onLoad(options) {
    this.quizId = Number(options.quiz_id);
    this.orgId = options.org_id ? Number(options.org_id) : undefined;
    return this.load();
  },
  onPullDownRefresh() {
    return this.load().then(() => wx.stopPullDownRefresh());
  },

  async load() {
    this.setData({ status: 'loading' });
    try {
      const board = await quizzes.getLeaderboard(this.quizId, { org_id: this.orgId });
      const items = (board.items || []).map((e) => Object.assign({}, e, { durationText: duration(e.duration_s) }));
      const orgs = (board.orgs || []).map((o) => Object.assign({}, o, { rateText: `${Math.round((o.participation_rate || 0) * 100)}%` }));
      this.setData({ items, orgs, me: board.me || null, status: items.length || orgs.length ? 'ok' : 'empty', message: '还没有人完成答题' });
    } catch (e) {
      this.setData({ status: 'error', message: e.message });
    }
  },
  onRetry() {
    return this.load();
  },
});
