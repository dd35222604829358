"""WeChat: the wechatpy client the app uses, and the stand-in server for development and tests."""
