// Uploads: small files (the handwritten signature PNG) in one multipart request, big files in
// resumable chunks read with FileSystemManager and PUT through request.js as ArrayBuffers.
const config = require('../config');
const { get, post, put } = require('./request');
const { upload } = require('./transfer');

const RESUME_KEY = 'uploads.resume';

function fs() {
  return wx.getFileSystemManager();
}

function fileSize(filePath) {
  return new Promise((resolve, reject) => {
    fs().getFileInfo({
      filePath,
      success: (res) => resolve(res.size),
      fail: () => reject(new Error('无法读取文件')),
    });
  });
}

function resumeMap() {
  try {
    return wx.getStorageSync(RESUME_KEY) || {};
  } catch (e) {
    return {};
  }
}

function remember(filePath, uploadId) {
  const map = resumeMap();
  if (uploadId) map[filePath] = uploadId;
  else delete map[filePath];
  try {
    wx.setStorageSync(RESUME_KEY, map);
  } catch (e) {
    // resuming is a nicety
  }
}

const api = {
  createUpload: (filename, size) => post('/uploads', { filename, size }),
  getUpload: (uploadId) => get(`/uploads/${uploadId}`, { silent: true }),
  putChunk: (uploadId, index, buffer) => put(`/uploads/${uploadId}/chunks/${index}`, buffer, { silent: true, retries: 2 }),
  completeUpload: (uploadId) => post(`/uploads/${uploadId}/complete`),
  // multipart field `file`; answers {id, status: "ready", media}
  uploadDirect: (filePath) => upload('/uploads/direct', filePath, { name: 'file' }),
};

/**
 * Chunked, resumable upload. A previous upload of the same file (remembered in storage, or
 * given as `uploadId`) continues with the chunks the server does not have yet.
 * onProgress(fraction) is called after every chunk.
 */
async function uploadChunked(filePath, { filename, size, uploadId, onProgress } = {}) {
  const total = size || (await fileSize(filePath));
  const name = filename || filePath.split('/').pop();
  let id = uploadId || resumeMap()[filePath] || null;
  let chunkSize;
  let chunkCount;
  let received = [];
  if (id) {
    try {
      const status = await api.getUpload(id);
      if (status.status === 'pending' && status.size === total) {
        chunkSize = status.chunk_size;
        chunkCount = status.chunk_count;
        received = status.received || [];
      } else if (status.status === 'ready') {
        remember(filePath, null);
        return api.completeUpload(id);
      } else {
        id = null;
      }
    } catch (e) {
      if (e.isNetwork) throw e;
      id = null; // expired or unknown: start over
    }
  }
  if (!id) {
    const created = await api.createUpload(name, total);
    id = created.id;
    chunkSize = created.chunk_size;
    chunkCount = created.chunk_count || Math.ceil(total / chunkSize);
    received = [];
    remember(filePath, id);
  }
  const have = new Set(received);
  let done = have.size;
  for (let index = 0; index < chunkCount; index += 1) {
    if (have.has(index)) continue;
    const position = index * chunkSize;
    const length = Math.min(chunkSize, total - position);
    const buffer = fs().readFileSync(filePath, undefined, position, length);
    await api.putChunk(id, index, buffer);
    done += 1;
    if (onProgress) onProgress(done / chunkCount);
  }
  const result = await api.completeUpload(id);
  remember(filePath, null);
  return result;
}

// Picks the direct upload for small files, chunks for big ones; resolves {id, status, media}.
async function uploadFile(filePath, options = {}) {
  const size = options.size || (await fileSize(filePath));
  if (size <= config.DIRECT_UPLOAD_MAX_BYTES) return api.uploadDirect(filePath);
  return uploadChunked(filePath, Object.assign({}, options, { size }));
}

module.exports = Object.assign({}, api, { uploadChunked, uploadFile, fileSize });
