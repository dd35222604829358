// One attempt: one question per screen, progress, a countdown to the server's deadline, every
// choice autosaved to the server and kept in storage (a killed app resumes the open attempt),
// submit (also when the time runs out). Submitting is idempotent on the server.
const quizzes = require('../../api/quizzes');
const attemptStore = require('../../utils/attempt-store');
const store = require('../../utils/store');
const nav = require('../../utils/nav');

Page({
  data: {
    status: 'loading',
    message: '',
    attemptId: null,
    level: 1,
    questions: [],
    total: 0,
    index: 0,
    current: null,
    currentChoice: [],
    answers: {},
    answeredCount: 0,
    percent: 0,
    deadline: '',
    offset: 0,
    submitting: false,
    offline: false,
  },

  onLoad(options) {
    this.quizId = Number(options.quiz_id);
    this.level = options.level ? Number(options.level) : undefined;
    this.pending = {};
    this.networkListener = (res) => this.onNetworkChange(res);
    wx.onNetworkStatusChange(this.networkListener);
    return this.begin();
  },

  onUnload() {
    wx.offNetworkStatusChange(this.networkListener);
    this.persist();
  },

  // Starts a new attempt or resumes the open one (the server answers it again with 200).
  async begin() {
    this.setData({ status: 'loading', message: '' });
    const stored = attemptStore.load(this.quizId);
    let attempt;
    try {
      attempt = await quizzes.startAttempt(this.quizId, this.level);
    } catch (e) {
      if (e.isNetwork && stored && Date.parse(stored.deadline) > Date.now() + stored.offset) {
        this.restore(stored, true); // carry on offline; choices sync when the network is back
        return;
      }
      this.setData({ status: 'error', message: e.message });
      return;
    }
    const answers = Object.assign({}, attempt.saved || {});
    let index = 0;
    this.pending = {};
    if (stored && stored.attemptId === attempt.id) {
      // choices made while offline or before the app was killed win over the server's copy
      Object.keys(stored.pending || {}).forEach((qid) => {
        answers[qid] = stored.answers[qid];
        this.pending[qid] = true;
      });
      index = stored.index || 0;
    } else if (stored) {
      attemptStore.clear(this.quizId);
    }
    const offset = attempt.server_time ? Date.parse(attempt.server_time) - Date.now() : 0;
    this.restore({ attemptId: attempt.id, level: attempt.level, questions: attempt.questions, deadline: attempt.deadline, offset, answers, index, pending: this.pending }, false);
    if (attempt.resumed) wx.showToast({ title: '已恢复上次未完成的答题', icon: 'none' }); // the clock kept running
    this.syncPending();
  },

  restore(state, offline) {
    this.pending = Object.assign({}, state.pending || {});
    const total = state.questions.length;
    const index = Math.min(state.index || 0, Math.max(0, total - 1));
    this.setData({
      status: 'ok',
      offline,
      attemptId: state.attemptId,
      level: state.level || 1,
      questions: state.questions,
      total,
      deadline: state.deadline,
      offset: state.offset || 0,
      answers: state.answers || {},
    });
    this.goTo(index);
    this.persist();
  },

  persist() {
    if (!this.data.attemptId || this.submitted) return;
    attemptStore.save(this.quizId, {
      attemptId: this.data.attemptId,
      level: this.data.level,
      questions: this.data.questions,
      deadline: this.data.deadline,
      offset: this.data.offset,
      answers: this.data.answers,
      pending: this.pending,
      index: this.data.index,
    });
  },

  goTo(index) {
    const question = this.data.questions[index];
    const answered = Object.keys(this.data.answers).filter((k) => (this.data.answers[k] || []).length).length;
    this.setData({
      index,
      current: question,
      currentChoice: (question && this.data.answers[question.id]) || [],
      answeredCount: answered,
      percent: this.data.total ? Math.round((answered / this.data.total) * 100) : 0,
    });
  },

  onChoice(e) {
    if (this.data.submitting || this.submitted) return undefined;
    const { questionId, choice } = e.detail;
    const answers = Object.assign({}, this.data.answers, { [questionId]: choice });
    this.pending[questionId] = true;
    this.setData({ answers });
    this.goTo(this.data.index);
    this.persist();
    return this.save(questionId);
  },

  // Autosaves a choice; once a save gets through after the network was away, the choices made
  // meanwhile follow (the banner stays until the server has them all).
  async save(questionId) {
    const sent = await this.send(questionId);
    if (sent && this.data.offline) await this.syncPending();
  },

  // Sends one choice; true when the server has it.
  async send(questionId) {
    const choice = this.data.answers[questionId] || [];
    try {
      await quizzes.saveAnswer(this.data.attemptId, questionId, choice);
      // a newer choice for the same question may have been made meanwhile
      if ((this.data.answers[questionId] || []).join() === choice.join()) delete this.pending[questionId];
      this.persist();
      return true;
    } catch (e) {
      if (e.isNetwork) this.setData({ offline: true });
      else if (e.code === 'attempt_deadline_passed' || e.code === 'attempt_submitted') this.submit({ auto: true });
      return false;
    }
  },

  async syncPending() {
    if (this.submitted) return;
    const sent = await Promise.all(Object.keys(this.pending).map((qid) => this.send(Number(qid))));
    if (this.data.offline && sent.every(Boolean)) this.setData({ offline: false });
  },

  // The phone is back online: send what was chosen while it was away (or, nothing waiting, drop the banner).
  onNetworkChange(res) {
    if (!res || !res.isConnected) return;
    if (Object.keys(this.pending || {}).length) this.syncPending();
    else if (this.data.offline) this.setData({ offline: false });
  },

  prev() {
    if (this.data.index > 0) this.goTo(this.data.index - 1);
    this.persist();
  },
  next() {
    if (this.data.index < this.data.total - 1) this.goTo(this.data.index + 1);
    this.persist();
  },

  confirmSubmit() {
    const left = this.data.total - this.data.answeredCount;
    if (left <= 0) return this.submit({});
    return new Promise((resolve) => {
      wx.showModal({
        title: '确认交卷',
        content: `还有 ${left} 题未作答，确定交卷吗？`,
        confirmText: '交卷',
        success: (res) => resolve(res.confirm ? this.submit({}) : undefined),
        fail: () => resolve(),
      });
    });
  },

  // the countdown reached the server's deadline
  onDeadline() {
    wx.showToast({ title: '时间到，自动交卷', icon: 'none' });
    return this.submit({ auto: true });
  },

  async submit() {
    if (this.data.submitting || this.submitted) return this.submitting;
    this.setData({ submitting: true });
    this.submitting = (async () => {
      try {
        // every local choice goes along, so nothing unsynced is lost
        const result = await quizzes.submitAttempt(this.data.attemptId, this.data.answers);
        this.submitted = true;
        attemptStore.clear(this.quizId);
        store.set(`result:${this.data.attemptId}`, result);
        nav.replace('/pages/result/index', { attempt_id: this.data.attemptId, quiz_id: this.quizId });
        return result;
      } catch (e) {
        if (e.isNetwork) this.setData({ offline: true });
        return null;
      } finally {
        this.setData({ submitting: false });
      }
    })();
    return this.submitting;
  },

  onRetry() {
    return this.begin();
  },
});
