// The project opens in WeChat DevTools and keeps its structure rules.
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const read = (p) => fs.readFileSync(path.join(ROOT, p), 'utf8');

function sourceFiles(dir) {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(rel);
    return rel.endsWith('.js') ? [rel] : [];
  });
}

const APP_SOURCES = ['app.js', 'config.js'].concat(...['api', 'pages', 'components', 'utils'].map(sourceFiles));

test('every page in app.json has its js, json, wxml; every used component exists', () => {
  const app = JSON.parse(read('app.json'));
  expect(app.pages[0]).toBe('pages/start/index');
  app.pages.forEach((page) => {
    ['js', 'json', 'wxml'].forEach((ext) => expect(fs.existsSync(path.join(ROOT, `${page}.${ext}`))).toBe(true));
    const json = JSON.parse(read(`${page}.json`));
    Object.values(json.usingComponents || {}).forEach((c) => {
      expect(fs.existsSync(path.join(ROOT, `${c.replace(/^\//, '')}.js`))).toBe(true);
    });
  });
  Object.values(app.usingComponents).forEach((c) => expect(c).toMatch(/^tdesign-miniprogram\//));
  expect(app.style).toBeUndefined(); // "style": "v2" breaks TDesign's styles
  expect(JSON.parse(read('sitemap.json')).rules.length).toBeGreaterThan(0);
});

test('the join page matches the page the backend puts into invite 小程序码', () => {
  const app = JSON.parse(read('app.json'));
  expect(app.pages).toContain('pages/join/index'); // WECHAT_JOIN_PAGE in config/__init__.py
});

test('config.js holds the AppID and the API base URL; project.config.json uses the same AppID', () => {
  const config = require('../config');
  const project = JSON.parse(read('project.config.json'));
  expect(config.API_BASE_URL).toMatch(/^https?:\/\/.+\/api\/v1$/);
  expect(project.appid).toBe(config.APPID);
  expect(config.DEV_LOGIN_LABEL).toBe(''); // never ship the stand-in login
  expect(project.miniprogramRoot).toBe('./');
  expect(project.setting.packNpmRelationList[0].packageJsonPath).toBe('./package.json');
});

test('api/request.js is the only caller of wx.request; uploads and downloads stay in api/', () => {
  APP_SOURCES.forEach((file) => {
    const text = read(file);
    if (file !== path.join('api', 'request.js')) expect({ file, calls: /wx\.request\s*\(/.test(text) }).toEqual({ file, calls: false });
    if (!file.startsWith('api')) expect({ file, transfer: /wx\.(uploadFile|downloadFile)\s*\(/.test(text) }).toEqual({ file, transfer: false });
  });
});

test('TDesign is a pinned npm dependency', () => {
  const pkg = JSON.parse(read('package.json'));
  expect(pkg.dependencies['tdesign-miniprogram']).toMatch(/^\d+\.\d+\.\d+$/);
  Object.values(pkg.devDependencies).forEach((v) => expect(v).toMatch(/^\d+\.\d+\.\d+$/));
});
