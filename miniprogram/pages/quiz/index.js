// Quiz: rules, attempts left, the 闯关 level map, start / resume, leaderboard.
const quizzes = require('../../api/quizzes');
const attemptStore = require('../../utils/attempt-store');
const nav = require('../../utils/nav');
const { OPEN_STATUS, duration } = require('../../utils/format');

function levelMap(quiz) {
  const progress = (quiz.me && quiz.me.levels) || [];
  const levels = quiz.levels && quiz.levels.length ? quiz.levels : [{ level: 1, title: quiz.title, question_count: quiz.question_count, pass_score: quiz.pass_score, time_limit_s: quiz.time_limit_s }];
  return levels.map((l, i) => {
    const p = progress.find((x) => x.level === l.level) || { level: l.level, attempts_used: 0, best_score: null, passed: false, unlocked: i === 0 };
    const left = Math.max(0, quiz.max_attempts - (p.attempts_used || 0));
    let state = 'locked';
    if (p.passed) state = 'passed';
    else if (p.unlocked) state = left > 0 ? 'open' : 'exhausted';
    return Object.assign({}, l, p, { title: l.title || `第 ${l.level} 关`, left, state, timeText: duration(l.time_limit_s) });
  });
}

Page({
  data: { status: 'loading', message: '', quiz: null, levels: [], statusText: '', openAttemptId: null, closedAttemptId: null, certificateSerial: null, timeText: '' },

  onLoad(options) {
    this.quizId = Number(options.id);
    return this.load();
  },
  onShow() {
    if (this.loaded) this.load(true);
  },

  async load(quiet) {
    if (!quiet) this.setData({ status: 'loading' });
    try {
      const quiz = await quizzes.getQuiz(this.quizId);
      const me = quiz.me || {};
      // The server's word on the open attempt: one kept on the phone that it has closed (the time
      // ran out while the app was away) was scored with what was saved; its result is offered.
      const openAttemptId = me.open_attempt_id || null;
      const stored = attemptStore.load(this.quizId);
      let closedAttemptId = this.data.closedAttemptId;
      if (stored && stored.attemptId !== openAttemptId) {
        attemptStore.clear(this.quizId);
        closedAttemptId = stored.attemptId;
      }
      this.loaded = true;
      wx.setNavigationBarTitle({ title: quiz.title });
      this.setData({ quiz, levels: levelMap(quiz), statusText: OPEN_STATUS[quiz.status] || '', openAttemptId, closedAttemptId: openAttemptId ? null : closedAttemptId, certificateSerial: me.certificate_serial || null, timeText: duration(quiz.time_limit_s), status: 'ok' });
    } catch (e) {
      if (!quiet) this.setData({ status: 'error', message: e.message });
    }
  },

  onRetry() {
    return this.load();
  },

  start(e) {
    const level = e && e.currentTarget && e.currentTarget.dataset.level;
    const item = this.data.levels.find((l) => l.level === Number(level)) || this.data.levels[0];
    if (!this.data.openAttemptId && item && (item.state === 'locked' || item.state === 'exhausted')) {
      wx.showToast({ title: item.state === 'locked' ? `请先通过第 ${item.level - 1} 关` : '本关答题次数已用完', icon: 'none' });
      return;
    }
    nav.go('/pages/attempt/index', { quiz_id: this.quizId, level: this.data.openAttemptId ? undefined : item && item.level });
  },

  resume() {
    nav.go('/pages/attempt/index', { quiz_id: this.quizId });
  },

  openClosedResult() {
    nav.go('/pages/result/index', { attempt_id: this.data.closedAttemptId, quiz_id: this.quizId });
  },

  openCertificate() {
    nav.go('/pages/certificate/index', { serial: this.data.certificateSerial, kind: 'quiz', mine: 1 });
  },

  openLeaderboard() {
    nav.go('/pages/leaderboard/index', { quiz_id: this.quizId });
  },
});
