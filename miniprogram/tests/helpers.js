// Shared page-test helpers: a fresh wx + fake server for every test, logged in or not.
const { createServer } = require('./fake-server');
const session = require('../api/session');

function setup({ loggedIn = true } = {}) {
  global.resetWx();
  session._reset();
  const server = createServer().install();
  if (loggedIn) session.setTokens({ access_token: 'A1', refresh_token: 'R1' });
  return server;
}

// waits until the mocked network and promise chains have settled
async function settle(rounds = 10) {
  for (let i = 0; i < rounds; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

// mounts a page, loads it with `options` as WeChat would and waits for its requests
async function openPage(path, options = {}) {
  const page = mount(path);
  await page.instance.onLoad(options);
  await settle();
  return page;
}

function canvasQuery() {
  const ctx = { scale: jest.fn(), fillRect: jest.fn(), beginPath: jest.fn(), moveTo: jest.fn(), lineTo: jest.fn(), stroke: jest.fn() };
  const node = { width: 0, height: 0, getContext: () => ctx };
  const query = { in: () => query, select: () => query, fields: () => query, exec: (cb) => cb([{ node, width: 300, height: 180 }]) };
  wx.createSelectorQuery = jest.fn(() => query);
  return { ctx, node };
}

async function drawSignature(padWrapper) {
  const canvas = padWrapper.querySelector('#signature-canvas');
  canvas.dispatchEvent('touchstart', { touches: [{ x: 10, y: 10 }] });
  await settle(2);
  canvas.dispatchEvent('touchmove', { touches: [{ x: 60, y: 40 }] });
  await settle(2);
  canvas.dispatchEvent('touchend', {});
  await settle(2);
}

module.exports = { setup, settle, openPage, canvasQuery, drawSignature, session };
