// Home: the campaigns I can see, their phase, and the pledges and quizzes open to me.
const overview = require('../../utils/overview');
const nav = require('../../utils/nav');

Page({
  data: { status: 'loading', message: '', campaigns: [] },

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
    if (this.loading) return;
    this.loading = true;
    if (!quiet) this.setData({ status: 'loading', message: '' });
    try {
      const campaigns = await overview.load();
      this.loaded = true;
      this.setData({ campaigns, status: campaigns.length ? 'ok' : 'empty', message: campaigns.length ? '' : '暂时没有你可以参加的活动。加入班级后，这里会出现学校和教育局发布的活动。' });
    } catch (e) {
      if (!quiet || !this.loaded) this.setData({ status: 'error', message: e.message });
    } finally {
      this.loading = false;
    }
  },

  onRetry() {
    return this.load();
  },
  openPledge(e) {
    nav.go('/pages/pledge/index', { id: e.currentTarget.dataset.id });
  },
  openQuiz(e) {
    nav.go('/pages/quiz/index', { id: e.currentTarget.dataset.id });
  },
});
