// Keeps the open quiz attempt in storage so a killed app resumes it: the questions, the
// deadline, the server clock offset, the choices and which choices the server has not got yet.
const PREFIX = 'quiz.attempt.';

function key(quizId) {
  return PREFIX + quizId;
}

module.exports = {
  load(quizId) {
    try {
      return wx.getStorageSync(key(quizId)) || null;
    } catch (e) {
      return null;
    }
  },
  save(quizId, state) {
    try {
      wx.setStorageSync(key(quizId), state);
    } catch (e) {
      // storage full: the server still has the autosaved choices
    }
  },
  clear(quizId) {
    try {
      wx.removeStorageSync(key(quizId));
    } catch (e) {
      // ignore
    }
  },
};
