const config = require('../config');
const { get, post, put } = require('./request');
const { download } = require('./transfer');

const enc = encodeURIComponent;

module.exports = {
  getQuiz: (quizId) => get(`/quizzes/${quizId}`),
  // 201 a new attempt, 200 the one still open (resume)
  startAttempt: (quizId, level) => post(`/quizzes/${quizId}/attempts`, level ? { level } : {}),
  // open: questions + saved choices; scored: the result
  getAttempt: (attemptId) => get(`/attempts/${attemptId}`),
  saveAnswer: (attemptId, questionId, choice) => put(`/attempts/${attemptId}/answers/${questionId}`, { choice }, { silent: true, retries: 1 }),
  // idempotent: submitting again answers the same result
  submitAttempt: (attemptId, answers) => post(`/attempts/${attemptId}/submit`, answers ? { answers } : {}, { retries: 2 }),
  getLeaderboard: (quizId, query = {}) => get(`/quizzes/${quizId}/leaderboard`, { query: Object.assign({ page: 1, page_size: 50 }, query) }),
  // staff only; for a class also not_taken: [{id, real_name}] (who has no scored attempt yet)
  getStats: (quizId, orgId, options = {}) => get(`/quizzes/${quizId}/stats`, Object.assign({ query: { org_id: orgId } }, options)),
  // staff only: the org's results as .xlsx (summary per child org, every student's best or 未参加) → temp path
  downloadResults: (quizId, orgId, options = {}) => download(`/quizzes/${quizId}/results.xlsx`, Object.assign({ query: { org_id: orgId } }, options)),
  // the certificate of a passed quiz (serial from `me.certificate_serial`); public like the pledge's
  verifyCertificate: (serial) => get(`/quiz-certificates/${enc(serial)}`, { auth: false, silent: true }),
  certificateImageUrl: (serial) => `${config.API_BASE_URL}/quiz-certificates/${enc(serial)}/image`,
  downloadCertificateImage: (serial) => download(`/quiz-certificates/${enc(serial)}/image`, { auth: false }),
};
