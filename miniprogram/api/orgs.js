const { get, post } = require('./request');

const enc = encodeURIComponent;

module.exports = {
  // what an invite leads to, shown before joining (404 / 410 carry a Chinese message)
  previewInvite: (code) => get(`/invites/${enc(code)}`, { silent: true }),
  acceptInvite: (code, realName) => post(`/invites/${enc(code)}/accept`, { real_name: realName }),
  getOrg: (orgId) => get(`/orgs/${orgId}`),
};
