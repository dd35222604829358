// File transfers that are not wx.request: wx.uploadFile (multipart) and wx.downloadFile.
// Same token handling and error shape as request.js (one refresh on 401, Chinese messages).
const config = require('../config');
const session = require('./session');
const { ApiError, MESSAGES, refreshToken, toApiError, showError, parseBody, url } = require('./request');

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

// A refused download's body is the server's JSON error, saved like any file: read it back so the
// Chinese message (e.g. export_too_large) reaches the user.
function errorBody(tempFilePath) {
  if (!tempFilePath) return null;
  try {
    const body = parseBody(wx.getFileSystemManager().readFileSync(tempFilePath, 'utf8'));
    return body && typeof body === 'object' ? body : null;
  } catch (e) {
    return null;
  }
}

function downloadOnce(path, query) {
  return new Promise((resolve, reject) => {
    const header = {};
    const token = session.getAccessToken();
    if (token) header.Authorization = `Bearer ${token}`;
    wx.downloadFile({
      url: url(path, query),
      header,
      success: (res) => {
        const okay = res.statusCode >= 200 && res.statusCode < 300;
        resolve({ status: res.statusCode, data: okay ? res.tempFilePath : errorBody(res.tempFilePath) });
      },
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

// GET a file to a temporary path; resolves the temp file path. options.query: query parameters.
const download = (path, options = {}) => withAuth(() => downloadOnce(path, options.query), options);

module.exports = { upload, download };
