// 「显示家庭码」 on a student's pages (我的, a family pledge's waiting screen). A code is asked for
// only when the student taps: every fetch issues a live code, and live codes are what a stranger
// guessing codes could hit. The page shows `familyCode` and `familyCodeExpires`.
const family = require('../api/family');
const { dateTime } = require('./format');

async function showFamilyCode(page) {
  if (page.data.familyCodeLoading) return;
  page.setData({ familyCodeLoading: true });
  try {
    const res = await family.getFamilyCode();
    page.familyCodeExpiresAt = Date.parse(res.expires_at);
    page.setData({ familyCode: res.code, familyCodeExpires: dateTime(res.expires_at) });
  } catch (e) {
    // request.js showed the message; the button stays for another try
  } finally {
    page.setData({ familyCodeLoading: false });
  }
}

module.exports = { showFamilyCode };
