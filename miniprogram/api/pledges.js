const config = require('../config');
const { get, post } = require('./request');
const { download } = require('./transfer');

const enc = encodeURIComponent;

module.exports = {
  getPledge: (pledgeId) => get(`/pledges/${pledgeId}`),
  // {handwriting_upload_id?, child_id?} → {id, serial, status, signed_at}; signing again answers the same signature
  sign: (pledgeId, body = {}) => post(`/pledges/${pledgeId}/signatures`, body),
  getStats: (pledgeId, orgId, options = {}) => get(`/pledges/${pledgeId}/stats`, Object.assign({ query: { org_id: orgId } }, options)),
  // staff only: the signature list as .xlsx → temp path
  downloadSignatures: (pledgeId, orgId, options = {}) => download(`/pledges/${pledgeId}/signatures.xlsx`, Object.assign({ query: { org_id: orgId } }, options)),
  // public: no login (pages opened from Moments run in single-page mode)
  verifyCertificate: (serial) => get(`/certificates/${enc(serial)}`, { auth: false, silent: true }),
  certificateImageUrl: (serial) => `${config.API_BASE_URL}/certificates/${enc(serial)}/image`,
  downloadCertificateImage: (serial) => download(`/certificates/${enc(serial)}/image`, { auth: false }),
};
