const { get } = require('./request');

module.exports = {
  listCampaigns: (query = {}) => get('/campaigns', { query: Object.assign({ page: 1, page_size: 50 }, query) }),
  getCampaign: (campaignId) => get(`/campaigns/${campaignId}`),
  listPledges: (campaignId, query = {}) => get(`/campaigns/${campaignId}/pledges`, { query: Object.assign({ page: 1, page_size: 50 }, query) }),
  listQuizzes: (campaignId, query = {}) => get(`/campaigns/${campaignId}/quizzes`, { query: Object.assign({ page: 1, page_size: 50 }, query) }),
};
