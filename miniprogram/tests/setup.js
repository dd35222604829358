// Test environment in the way of TDesign's repository: miniprogram-simulate provides Component
// and a mock wx; Page is mapped onto Component; every wx API the app uses is a jest mock.
const path = require('path');
const simulate = require('miniprogram-simulate');
const simulateApi = require('miniprogram-simulate/src/api');

const ROOT = path.resolve(__dirname, '..');

// Page(options) → Component: page handlers become methods, tests call onLoad themselves.
global.Page = (options) => {
  const methods = {};
  const data = options.data || {};
  Object.keys(options).forEach((key) => {
    if (typeof options[key] === 'function') methods[key] = options[key];
  });
  global.Component({ data, methods });
};

global.getApp = () => ({ globalData: {} });
global.getCurrentPages = () => [];

// In-memory storage shared by getStorageSync / setStorageSync (cleared with wx.__resetStorage()).
function makeStorage() {
  let store = {};
  return {
    getStorageSync: jest.fn((key) => (key in store ? JSON.parse(JSON.stringify(store[key])) : '')),
    setStorageSync: jest.fn((key, value) => {
      store[key] = JSON.parse(JSON.stringify(value));
    }),
    removeStorageSync: jest.fn((key) => {
      delete store[key];
    }),
    clearStorageSync: jest.fn(() => {
      store = {};
    }),
    __resetStorage: () => {
      store = {};
    },
    __storage: () => store,
  };
}

const windowInfo = { pixelRatio: 2, windowWidth: 375, windowHeight: 667, screenWidth: 375, screenHeight: 667, statusBarHeight: 20 };

function asyncOk(name, result = {}) {
  return jest.fn((opts = {}) => {
    const res = Object.assign({ errMsg: `${name}:ok` }, result);
    if (opts.success) opts.success(res);
    if (opts.complete) opts.complete(res);
    return Promise.resolve(res);
  });
}

// wx.onNetworkStatusChange listeners; the fake server's setOnline calls them.
function makeNetwork() {
  let listeners = [];
  return {
    onNetworkStatusChange: jest.fn((cb) => {
      listeners.push(cb);
    }),
    offNetworkStatusChange: jest.fn((cb) => {
      listeners = cb ? listeners.filter((l) => l !== cb) : [];
    }),
    __networkChanged: (isConnected) => listeners.forEach((l) => l({ isConnected, networkType: isConnected ? 'wifi' : 'none' })),
  };
}

global.resetWx = () => {
  global.wx = Object.assign({}, simulateApi, makeStorage(), makeNetwork(), {
    getWindowInfo: jest.fn(() => windowInfo),
    getSystemInfoSync: jest.fn(() => windowInfo),
    request: jest.fn(() => {
      throw new Error('wx.request not mocked in this test');
    }),
    uploadFile: jest.fn(),
    downloadFile: jest.fn(),
    login: asyncOk('login', { code: 'wx-code-1' }),
    showToast: jest.fn(),
    showLoading: jest.fn(),
    hideLoading: jest.fn(),
    showModal: asyncOk('showModal', { confirm: true, cancel: false }),
    navigateTo: asyncOk('navigateTo'),
    redirectTo: asyncOk('redirectTo'),
    reLaunch: asyncOk('reLaunch'),
    switchTab: asyncOk('switchTab'),
    navigateBack: asyncOk('navigateBack'),
    setNavigationBarTitle: jest.fn(),
    stopPullDownRefresh: jest.fn(),
    canvasToTempFilePath: asyncOk('canvasToTempFilePath', { tempFilePath: 'wxfile://tmp/signature.png' }),
    saveImageToPhotosAlbum: asyncOk('saveImageToPhotosAlbum'),
    openDocument: asyncOk('openDocument'),
    openSetting: asyncOk('openSetting'),
    showShareMenu: jest.fn(),
    scanCode: jest.fn(),
    getFileSystemManager: jest.fn(() => ({ readFileSync: jest.fn(), getFileInfo: jest.fn(({ success }) => success({ size: 4096 })) })),
    getEnterOptionsSync: jest.fn(() => ({ scene: 1001, query: {} })),
    getLaunchOptionsSync: jest.fn(() => ({ scene: 1001, query: {} })),
  });
};
global.resetWx();

// Loads a page or component of the app with the simulate (pure JS) template compiler. Jest keeps
// required modules, so a component's JS runs only once per test file: every component is loaded
// once and pages get the ids of the components they use. TDesign's tags (t-button …) come from
// miniprogram_npm in DevTools; here they are one light stand-in.
const fs = require('fs');

const TDESIGN_TAGS = Object.keys(require('../app.json').usingComponents);
const loaded = {};
function loadOnce(relativePath) {
  const key = relativePath.replace(/^\//, '');
  if (loaded[key]) return loaded[key];
  const json = JSON.parse(fs.readFileSync(path.join(ROOT, `${key}.json`), 'utf8'));
  const usingComponents = {};
  Object.keys(json.usingComponents || {}).forEach((tag) => {
    usingComponents[tag] = loadOnce(json.usingComponents[tag]);
  });
  if (key !== 'tests/stubs/t-stub/index') {
    TDESIGN_TAGS.forEach((tag) => {
      usingComponents[tag] = loadOnce('tests/stubs/t-stub/index');
    });
  }
  loaded[key] = simulate.load(path.join(ROOT, key), { compiler: 'simulate', rootPath: ROOT, usingComponents });
  return loaded[key];
}
global.loadComponent = loadOnce;

// Renders and attaches; resolves the component wrapper.
global.mount = (relativePath, props) => {
  const id = global.loadComponent(relativePath);
  const comp = simulate.render(id, props);
  comp.attach(document.createElement('parent-wrapper'));
  return comp;
};

global.simulate = simulate;
global.flush = () => new Promise((resolve) => setTimeout(resolve, 0));
