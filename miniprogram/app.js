// 清朗校园 mini-program. Login happens on demand: the first API call without a valid token
// logs in through wx.login (api/request.js), so pages opened from a share or a scan just work.
App({
  globalData: {},
  onLaunch() {
    if (wx.getUpdateManager) {
      const manager = wx.getUpdateManager();
      manager.onUpdateReady(() => {
        wx.showModal({
          title: '发现新版本',
          content: '新版本已经准备好，是否重启使用？',
          success: (res) => res.confirm && manager.applyUpdate(),
        });
      });
    }
  },
});
