// File transfers that are not wx.request: wx.uploadFile (multipart) and wx.downloadFile.
// Same token handling and error shape as request.js (one refresh on 401, Chinese messages).
const config = require('../config');
const session = require('./session');
const { ApiError, MESSAGES, refreshToken, toApiError, showError, parseBody } = require('./request');

function uploadOnce(path, filePath, { name = 'file', formData } = {}) {
  return new Promise((resolve, reject) => {
    const header = {};
    const token = session.getAccessToken();
    if (token) header.Authorization = `Bearer ${token}`;
    wx.uploadFile({
      url: `${config.API_BASE_URL}${path}`,
      filePath,
      name,
      formData,
      header,
      success: (res) => resolve({ status: res.statusCode, data: parseBody(res.data) }),
      fail: () => reject(new ApiError({ status: 0, code: 'network_error', message: MESSAGES.network })),
    });
  });
}

function downloadOnce(path) {
  return new Promise((resolve, reject) => {
    const header = {};
    const token = session.getAccessToken();
    if (token) header.Authorization = `Bearer ${token}`;
    wx.downloadFile({
      url: `${config.API_BASE_URL}${path}`,
      header,
      success: (res) => resolve({ status: res.statusCode, data: res.tempFilePath }),
      fail: () => reject(new ApiError({ status: 0, code: 'network_error', message: MESSAGES.network })),
    });
  });
}

async function withAuth(fn, options = {}) {
  try {
    let res = await fn();
    if (res.status === 401 && options.auth !== false) {
      await refreshToken();
      res = await fn();
    }
    if (res.status >= 200 && res.status < 300) return res.data;
    throw toApiError(res.status, typeof res.data === 'object' ? res.data : null);
  } catch (e) {
    const error = e instanceof ApiError ? e : new ApiError({ message: MESSAGES.unknown });
    if (!options.silent) showError(error);
    throw error;
  }
}

// POST a local file as multipart field `file`; resolves the parsed JSON answer.
const upload = (path, filePath, options = {}) => withAuth(() => uploadOnce(path, filePath, options), options);

// GET a file to a temporary path; resolves the temp file path.
const download = (path, options = {}) => withAuth(() => downloadOnce(path), options);

module.exports = { upload, download };
