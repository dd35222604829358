// Navigation helpers; tab pages need switchTab / reLaunch.
const TABS = ['/pages/home/index', '/pages/me/index'];

function query(params) {
  const parts = Object.keys(params || {})
    .filter((k) => params[k] !== undefined && params[k] !== null)
    .map((k) => `${k}=${encodeURIComponent(params[k])}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

module.exports = {
  go(path, params) {
    if (TABS.indexOf(path) >= 0) return wx.switchTab({ url: path });
    return wx.navigateTo({ url: path + query(params) });
  },
  replace(path, params) {
    if (TABS.indexOf(path) >= 0) return wx.reLaunch({ url: path });
    return wx.redirectTo({ url: path + query(params) });
  },
  home() {
    return wx.reLaunch({ url: '/pages/home/index' });
  },
  query,
};
