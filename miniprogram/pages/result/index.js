// Result: score, pass, every question with the right answer, the explanation and the legal basis;
// retry when attempts are left, the next 闯关 level, the leaderboard.
const quizzes = require('../../api/quizzes');
const store = require('../../utils/store');
const nav = require('../../utils/nav');
const { duration } = require('../../utils/format');

function decorate(result) {
  return Object.assign({}, result, {
    durationText: duration(result.duration_s),
    questions: (result.questions || []).map((q, i) => Object.assign({}, q, {
      number: i + 1,
      choiceText: (q.choice || []).join('、') || '未作答',
      answerText: (q.answer || []).join('、'),
    })),
  });
}

Page({
  data: { status: 'loading', message: '', result: null, canRetry: false },

  onLoad(options) {
    this.attemptId = Number(options.attempt_id);
    this.quizId = Number(options.quiz_id);
    return this.load();
  },

  async load() {
    this.setData({ status: 'loading' });
    try {
      const result = store.take(`result:${this.attemptId}`) || (await quizzes.getAttempt(this.attemptId));
      if (!this.quizId) this.quizId = result.quiz_id;
      this.setData({ result: decorate(result), status: 'ok' });
      this.loadRetry(result);
    } catch (e) {
      this.setData({ status: 'error', message: e.message });
    }
  },

  async loadRetry(result) {
    try {
      const quiz = await quizzes.getQuiz(this.quizId);
      const level = ((quiz.me && quiz.me.levels) || []).find((l) => l.level === result.level);
      this.setData({ canRetry: Boolean(level && quiz.status === 'open' && level.attempts_used < quiz.max_attempts && !(quiz.me && quiz.me.open_attempt_id)) });
    } catch (e) {
      // no retry button then
    }
  },

  onRetry() {
    return this.load();
  },
  retry() {
    nav.replace('/pages/attempt/index', { quiz_id: this.quizId, level: this.data.result.level });
  },
  nextLevel() {
    nav.replace('/pages/attempt/index', { quiz_id: this.quizId, level: this.data.result.next_level });
  },
  openLeaderboard() {
    nav.go('/pages/leaderboard/index', { quiz_id: this.quizId });
  },
  backToQuiz() {
    nav.replace('/pages/quiz/index', { id: this.quizId });
  },
});
