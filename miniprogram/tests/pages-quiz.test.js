const { ok, fail } = require('./fake-server');
const { setup, settle, openPage } = require('./helpers');

const QUESTIONS = [
  { id: 101, type: 'single', stem: '《网络安全法》自哪一年起施行？', options: [{ key: 'A', text: '2016' }, { key: 'B', text: '2017' }, { key: 'C', text: '2018' }], points: 5 },
  { id: 102, type: 'multiple', stem: '哪些做法能防范网络诈骗？', options: [{ key: 'A', text: '不点陌生链接' }, { key: 'B', text: '不透露验证码' }, { key: 'C', text: '随意转账' }], points: 5 },
  { id: 103, type: 'true_false', stem: '可以在网上随意公开同学的照片。', options: [{ key: 'A', text: '正确' }, { key: 'B', text: '错误' }], points: 5 },
];

// A fake quiz backend that keeps the saved choices like the server does.
function quizServer(server, { deadlineInS = 600, late = false } = {}) {
  const state = { saved: {}, submitted: null, started: 0 };
  const now = Date.now();
  const attempt = () => ({
    id: 31, quiz_id: 9, level: 1, number: 1, status: 'open',
    started_at: new Date(now).toISOString(),
    deadline: new Date(now + deadlineInS * 1000).toISOString(),
    server_time: new Date(Date.now()).toISOString(),
    time_limit_s: 600, questions: QUESTIONS, saved: Object.assign({}, state.saved), resumed: state.started > 1,
  });
  server.on('POST', '/quizzes/{id}/attempts', () => {
    state.started += 1;
    return state.started === 1 ? ok(attempt(), 201) : ok(attempt(), 200);
  });
  server.on('PUT', '/attempts/{id}/answers/{qid}', ({ params, data }) => {
    state.saved[params[1]] = data.choice;
    return ok({ question_id: Number(params[1]), choice: data.choice, saved_at: new Date().toISOString() });
  });
  server.on('POST', '/attempts/{id}/submit', ({ data }) => {
    if (!state.submitted) {
      const answers = Object.assign({}, state.saved, data.answers || {});
      state.submitted = {
        id: 31, quiz_id: 9, level: 1, status: 'scored', ended_by: late ? 'deadline' : 'submit', late_answers_ignored: late, score: 15, max_score: 15, pass_score: 9, passed: true, duration_s: 95, next_level: null,
        questions: QUESTIONS.map((q) => ({ id: q.id, type: q.type, stem: q.stem, options: q.options, choice: answers[q.id] || [], correct: true, points: 5, earned: 5, answer: answers[q.id] || [], explanation: `第${q.id}题解析`, legal_basis: '《网络安全法》第二十一条' })),
        received: answers,
      };
    }
    return ok(state.submitted);
  });
  server.on('GET', '/quizzes/{id}', () => ok({ id: 9, title: '网络安全知识竞赛', status: 'open', max_attempts: 3, question_count: 3, time_limit_s: 600, pass_score: 9, leveled: false, levels: [], me: { open_attempt_id: null, levels: [{ level: 1, attempts_used: 1, best_score: 15, passed: true, unlocked: true }] } }));
  return state;
}

async function tapOption(page, index) {
  page.querySelector('#card').querySelectorAll('.option')[index].dispatchEvent('tap');
  await settle();
}

describe('a whole quiz attempt', () => {
  test('start, answer with autosave, get killed offline, resume from storage, submit, see the result', async () => {
    const server = setup();
    const state = quizServer(server);
    let page = mount('pages/attempt/index');
    await page.instance.onLoad({ quiz_id: '9', level: '1' });
    await settle();
    expect(server.callsTo('POST', '/quizzes/9/attempts')[0].data).toEqual({ level: 1 });
    expect(page.data.total).toBe(3);
    expect(page.data.current.id).toBe(101);
    expect(page.querySelector('#countdown').data.text).toMatch(/^(10:00|09:59)$/);
    expect(wx.showToast).not.toHaveBeenCalledWith(expect.objectContaining({ title: '已恢复上次未完成的答题' }));

    // question 1 through the question card: saved on the server and in storage
    await tapOption(page, 1);
    expect(state.saved['101']).toEqual(['B']);
    let stored = wx.getStorageSync('quiz.attempt.9');
    expect(stored.attemptId).toBe(31);
    expect(stored.answers['101']).toEqual(['B']);
    expect(stored.pending).toEqual({});

    // question 2 while the network is gone: kept locally, marked pending
    page.instance.next();
    server.setOnline(false);
    await tapOption(page, 0);
    await tapOption(page, 1);
    expect(page.data.offline).toBe(true);
    stored = wx.getStorageSync('quiz.attempt.9');
    expect(stored.answers['102']).toEqual(['A', 'B']);
    expect(stored.pending).toEqual({ 102: true });
    expect(stored.index).toBe(1);
    expect(state.saved['102']).toBeUndefined();

    // the app is killed; later, online again, the attempt page opens anew
    page.detach();
    server.setOnline(true);
    page = mount('pages/attempt/index');
    await page.instance.onLoad({ quiz_id: '9' });
    await settle();
    expect(server.callsTo('POST', '/quizzes/9/attempts')).toHaveLength(2);
    expect(page.data.attemptId).toBe(31);
    expect(page.data.index).toBe(1); // back on the question we were at
    expect(wx.showToast).toHaveBeenCalledWith(expect.objectContaining({ title: '已恢复上次未完成的答题' }));
    expect(page.data.answers).toEqual({ 101: ['B'], 102: ['A', 'B'] });
    expect(state.saved['102']).toEqual(['A', 'B']); // the pending choice was sent
    expect(wx.getStorageSync('quiz.attempt.9').pending).toEqual({});
    expect(page.data.answeredCount).toBe(2);

    // the last question, then submit (a double tap submits once)
    page.instance.next();
    await tapOption(page, 1);
    await Promise.all([page.instance.confirmSubmit(), page.instance.confirmSubmit()]);
    await settle();
    const submits = server.callsTo('POST', '/attempts/31/submit');
    expect(submits).toHaveLength(1);
    expect(submits[0].data.answers).toEqual({ 101: ['B'], 102: ['A', 'B'], 103: ['B'] });
    expect(wx.showModal).not.toHaveBeenCalled(); // all answered: no confirmation needed
    expect(wx.getStorageSync('quiz.attempt.9')).toBe('');
    expect(wx.redirectTo).toHaveBeenCalledWith(expect.objectContaining({ url: '/pages/result/index?attempt_id=31&quiz_id=9' }));

    // the result page shows every explanation and offers a retry
    const result = await openPage('pages/result/index', { attempt_id: '31', quiz_id: '9' });
    expect(result.data.result.score).toBe(15);
    const explanations = result.querySelectorAll('.explanation');
    expect(explanations).toHaveLength(3);
    expect(explanations[0].dom.textContent).toContain('第101题解析');
    expect(result.data.canRetry).toBe(true);
    expect(result.querySelector('.late-notice')).toBeFalsy();
    expect(server.callsTo('GET', '/attempts/31')).toHaveLength(0); // handed over, not refetched
  });

  test.each([
    ['the phone reports the network is back', false],
    ['the next autosave gets through', true],
  ])('choices made offline reach the server once %s; the banner stays until they have', async (_, unnoticed) => {
    const server = setup();
    const state = quizServer(server);
    const page = await openPage('pages/attempt/index', { quiz_id: '9' });
    server.setOnline(false, { unnoticed });
    await tapOption(page, 1); // question 1: B, kept on the phone
    expect(page.data.offline).toBe(true);
    expect(state.saved['101']).toBeUndefined();

    server.setOnline(true, { unnoticed });
    if (unnoticed) {
      expect(page.data.offline).toBe(true); // nothing told the page yet
      page.instance.next();
      await tapOption(page, 0); // question 2: A gets through, and question 1 follows it
    }
    await settle();
    expect(state.saved['101']).toEqual(['B']);
    if (unnoticed) expect(state.saved['102']).toEqual(['A']);
    expect(page.data.offline).toBe(false);
    expect(wx.getStorageSync('quiz.attempt.9').pending).toEqual({});
  });

  test('an attempt resumed offline with nothing unsent drops the banner once the network is back', async () => {
    const server = setup();
    quizServer(server);
    wx.setStorageSync('quiz.attempt.9', { attemptId: 31, level: 1, questions: QUESTIONS, deadline: new Date(Date.now() + 600000).toISOString(), offset: 0, answers: { 101: ['A'] }, pending: {}, index: 0 });
    server.setOnline(false);
    const page = await openPage('pages/attempt/index', { quiz_id: '9' });
    expect(page.data.offline).toBe(true); // carried on from storage
    server.setOnline(true);
    await settle();
    expect(page.data.offline).toBe(false);
  });

  test('the page stops listening for the network when it closes', async () => {
    const server = setup();
    quizServer(server);
    const page = await openPage('pages/attempt/index', { quiz_id: '9' });
    page.instance.onUnload();
    expect(wx.offNetworkStatusChange).toHaveBeenCalledWith(wx.onNetworkStatusChange.mock.calls[0][0]);
  });

  test('a submit that reached the server after the deadline says its answers were not counted', async () => {
    const server = setup();
    quizServer(server, { late: true });
    const page = await openPage('pages/attempt/index', { quiz_id: '9' });
    wx.showModal = jest.fn((opts) => opts.success({ confirm: true, cancel: false }));
    await page.instance.confirmSubmit();
    await settle();
    const result = await openPage('pages/result/index', { attempt_id: '31', quiz_id: '9' });
    expect(result.querySelector('.late-notice').dom.textContent).toContain('这次提交的答案未计入');
  });

  test('an attempt the school declared void says so and why, not 恭喜通过', async () => {
    const server = setup();
    quizServer(server);
    server.on('GET', '/attempts/{id}', () => ok({
      id: 31, quiz_id: 9, level: 1, status: 'voided', ended_by: 'submit', late_answers_ignored: false, score: 15, max_score: 15, pass_score: 9, passed: true, duration_s: 95, next_level: null,
      void_reason: '与同班同学答案雷同，经核实', questions: [],
    }));
    const result = await openPage('pages/result/index', { attempt_id: '31', quiz_id: '9' });
    expect(result.querySelector('.void-notice').dom.textContent).toContain('原因：与同班同学答案雷同，经核实');
    expect(result.querySelector('.pass')).toBeFalsy();
  });

  test('unanswered questions ask for confirmation before submitting', async () => {
    const server = setup();
    quizServer(server);
    const page = await openPage('pages/attempt/index', { quiz_id: '9' });
    wx.showModal = jest.fn((opts) => opts.success({ confirm: false, cancel: true }));
    await page.instance.confirmSubmit();
    expect(wx.showModal.mock.calls[0][0].content).toContain('还有 3 题未作答');
    expect(server.callsTo('POST', '/attempts/31/submit')).toHaveLength(0);
  });

  test('the countdown reaching the server deadline submits by itself', async () => {
    const server = setup();
    const state = quizServer(server, { deadlineInS: 0 });
    const page = await openPage('pages/attempt/index', { quiz_id: '9' });
    expect(server.callsTo('POST', '/attempts/31/submit')).toHaveLength(1);
    expect(state.submitted).not.toBe(null);
    expect(wx.showToast).toHaveBeenCalledWith(expect.objectContaining({ title: '时间到，自动交卷' }));
    expect(wx.redirectTo).toHaveBeenCalledWith(expect.objectContaining({ url: '/pages/result/index?attempt_id=31&quiz_id=9' }));
  });

  test('a start refused by the server shows its message with retry', async () => {
    const server = setup();
    server.on('POST', '/quizzes/{id}/attempts', () => fail(409, 'attempts_exhausted', '答题次数已用完（每关最多 3 次）'));
    const page = mount('pages/attempt/index');
    await page.instance.onLoad({ quiz_id: '9' });
    expect(page.data.status).toBe('error');
    expect(page.data.message).toBe('答题次数已用完（每关最多 3 次）');
  });
});

describe('quiz page and leaderboard', () => {
  test('the 闯关 level map shows passed, open and locked levels; a locked level does not start', async () => {
    const server = setup();
    server.on('GET', '/quizzes/{id}', () => ok({
      id: 9, title: '闯关赛', status: 'open', max_attempts: 2, question_count: 5, time_limit_s: 300, pass_score: 20, leveled: true,
      levels: [{ level: 1, title: '第一关', question_count: 5, pass_score: 20, time_limit_s: 300 }, { level: 2, title: '第二关', question_count: 5, pass_score: 20, time_limit_s: 300 }, { level: 3, title: '第三关', question_count: 5, pass_score: 20, time_limit_s: 300 }],
      me: { open_attempt_id: null, levels: [{ level: 1, attempts_used: 1, best_score: 25, passed: true, unlocked: true }, { level: 2, attempts_used: 0, best_score: null, passed: false, unlocked: true }, { level: 3, attempts_used: 0, best_score: null, passed: false, unlocked: false }] },
    }));
    const page = await openPage('pages/quiz/index', { id: '9' });
    expect(page.data.levels.map((l) => l.state)).toEqual(['passed', 'open', 'locked']);
    expect(page.querySelectorAll('.level')).toHaveLength(3);
    page.instance.start({ currentTarget: { dataset: { level: 3 } } });
    expect(wx.showToast).toHaveBeenCalledWith(expect.objectContaining({ title: '请先通过第 2 关' }));
    expect(wx.navigateTo).not.toHaveBeenCalled();
    page.instance.start({ currentTarget: { dataset: { level: 2 } } });
    expect(wx.navigateTo).toHaveBeenCalledWith(expect.objectContaining({ url: '/pages/attempt/index?quiz_id=9&level=2' }));
  });

  test('an attempt kept in storage is offered to continue only while the server has it open', async () => {
    const server = setup();
    let open = 31;
    server.on('GET', '/quizzes/{id}', () => ok({ id: 9, title: '竞赛', status: 'open', max_attempts: 3, question_count: 3, time_limit_s: 600, pass_score: 9, leveled: false, levels: [], me: { open_attempt_id: open, levels: [{ level: 1, attempts_used: 1, best_score: null, passed: false, unlocked: true }] } }));
    wx.setStorageSync('quiz.attempt.9', { attemptId: 31, questions: [], deadline: new Date(Date.now() + 60000).toISOString() });
    let page = mount('pages/quiz/index');
    await page.instance.onLoad({ id: '9' });
    expect(page.data.openAttemptId).toBe(31);
    expect(wx.getStorageSync('quiz.attempt.9').attemptId).toBe(31);
    page.instance.resume();
    expect(wx.navigateTo).toHaveBeenCalledWith(expect.objectContaining({ url: '/pages/attempt/index?quiz_id=9' }));

    // The app comes back after the deadline: the server scored the attempt with what was saved.
    // Nothing offers to continue it (that would start a new attempt); its result is offered instead.
    open = null;
    page = mount('pages/quiz/index');
    await page.instance.onLoad({ id: '9' });
    await settle();
    expect(page.data.openAttemptId).toBeNull();
    expect(page.querySelector('.resume')).toBeUndefined();
    expect(wx.getStorageSync('quiz.attempt.9')).toBe('');
    expect(page.querySelector('.closed-attempt').dom.textContent).toContain('已按服务器保存的答案交卷');
    page.instance.openClosedResult();
    expect(wx.navigateTo).toHaveBeenLastCalledWith(expect.objectContaining({ url: '/pages/result/index?attempt_id=31&quiz_id=9' }));
  });

  test('a passed quiz offers its certificate, which verifies and shares as a quiz certificate', async () => {
    const server = setup();
    server.on('GET', '/quizzes/{id}', () => ok({ id: 9, title: '网络安全知识竞赛', status: 'open', max_attempts: 3, question_count: 3, time_limit_s: 600, pass_score: 9, leveled: false, levels: [], me: { open_attempt_id: null, certificate_serial: 'QZ0000012AB12CD34', levels: [{ level: 1, attempts_used: 1, best_score: 15, passed: true, unlocked: true }] } }));
    const page = await openPage('pages/quiz/index', { id: '9' });
    page.instance.openCertificate();
    expect(wx.navigateTo).toHaveBeenLastCalledWith(expect.objectContaining({ url: '/pages/certificate/index?serial=QZ0000012AB12CD34&kind=quiz&mine=1' }));

    server.on('GET', '/quiz-certificates/{serial}', () => ok({ serial: 'QZ0000012AB12CD34', name_masked: '王*明', title: '网络安全知识竞赛', school: '实验小学 三年级二班', score: 15, max_score: 15, passed_at: '2026-11-20T02:00:00Z', valid: true, revoked: false }));
    server.on('GET', '/quiz-certificates/{serial}/image', () => ok(''));
    const certificate = await openPage('pages/certificate/index', { serial: 'QZ0000012AB12CD34', kind: 'quiz', mine: '1' });
    const text = certificate.querySelector('.verify').dom.textContent;
    expect(text).toContain('证书有效');
    expect(text).toContain('竞赛：网络安全知识竞赛');
    expect(text).toContain('成绩：15 / 15 分');
    expect(certificate.data.imageUrl).toMatch(/\/quiz-certificates\/QZ0000012AB12CD34\/image$/);
    await certificate.instance.saveToAlbum();
    expect(wx.downloadFile.mock.calls[0][0].url).toMatch(/\/quiz-certificates\/QZ0000012AB12CD34\/image$/);
    expect(wx.showToast).toHaveBeenCalledWith(expect.objectContaining({ title: '已保存到相册' }));
    const share = certificate.instance.onShareTimeline();
    expect(share.query).toBe('serial=QZ0000012AB12CD34&kind=quiz');
    expect(share.title).toContain('成绩合格');

    // The poster's QR code scanned with WeChat (an ordinary link → q) opens it as a quiz certificate.
    const scanned = await openPage('pages/certificate/index', { q: encodeURIComponent('https://example.invalid/api/v1/quiz-certificates/QZ0000012AB12CD34') });
    expect([scanned.data.kind, scanned.data.serial, scanned.data.heading]).toEqual(['quiz', 'QZ0000012AB12CD34', '✅ 证书有效']);
  });

  test('the leaderboard lists ranks and the org children', async () => {
    const server = setup();
    server.on('GET', '/quizzes/{id}/leaderboard', ({ query }) => ok({ quiz_id: 9, org_id: 3, items: [{ rank: 1, name: '张*三', score: 100, max_score: 100, duration_s: 80, is_me: false }, { rank: 2, name: '王小明', score: 90, max_score: 100, duration_s: 70, is_me: true }], total: 2, page: 1, page_size: 50, me: { rank: 2, score: 90 }, orgs: [{ org_id: 9, name: '三年级二班', enrolled: 40, took: 30, participation_rate: 0.75, average_score: 88.5, rank_by_score: 1 }] }));
    const page = await openPage('pages/leaderboard/index', { quiz_id: '9' });
    expect(page.data.items).toHaveLength(2);
    expect(page.data.orgs[0].rateText).toBe('75%');
    expect(server.calls[0].query).toEqual({ page: '1', page_size: '50' });
  });
});
