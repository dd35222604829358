// Tokens and the logged-in user, kept in storage so a restarted app stays logged in.
const TOKENS_KEY = 'auth.tokens';
const USER_KEY = 'auth.user';

function read(key) {
  try {
    return wx.getStorageSync(key) || null;
  } catch (e) {
    return null;
  }
}

function write(key, value) {
  try {
    wx.setStorageSync(key, value);
  } catch (e) {
    // storage full or unavailable: the session lives in memory only
  }
}

let memory = null;

function tokens() {
  if (!memory) memory = read(TOKENS_KEY);
  return memory || {};
}

module.exports = {
  getAccessToken: () => tokens().access_token || null,
  getRefreshToken: () => tokens().refresh_token || null,
  isLoggedIn: () => Boolean(tokens().access_token),
  setTokens({ access_token, refresh_token }) {
    memory = { access_token, refresh_token };
    write(TOKENS_KEY, memory);
  },
  setAccessToken(accessToken) {
    memory = Object.assign({}, tokens(), { access_token: accessToken });
    write(TOKENS_KEY, memory);
  },
  getUser: () => read(USER_KEY),
  setUser: (user) => write(USER_KEY, user),
  clear() {
    memory = null;
    try {
      wx.removeStorageSync(TOKENS_KEY);
      wx.removeStorageSync(USER_KEY);
    } catch (e) {
      // ignore
    }
  },
  // tests
  _reset() {
    memory = null;
  },
};
