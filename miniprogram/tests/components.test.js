describe('countdown', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    global.resetWx();
  });
  afterEach(() => jest.useRealTimers());

  test('shows the time left to the server deadline and fires finish once at zero', () => {
    const now = Date.now();
    // the server's clock is 5 s ahead of the phone
    const deadline = new Date(now + 5000 + 3000).toISOString();
    const comp = mount('components/countdown/index', { deadline, offset: 5000 });
    const finish = jest.fn();
    comp.addEventListener('finish', finish);
    expect(comp.data.text).toBe('00:03');
    jest.advanceTimersByTime(1000);
    expect(comp.data.text).toBe('00:02');
    expect(finish).not.toHaveBeenCalled();
    jest.advanceTimersByTime(3000);
    expect(comp.data.text).toBe('00:00');
    expect(finish).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(5000);
    expect(finish).toHaveBeenCalledTimes(1);
  });
});

describe('question card', () => {
  beforeEach(() => global.resetWx());

  const single = { id: 11, type: 'single', stem: '网络运营者应当制定什么？', options: [{ key: 'A', text: '网络安全事件应急预案' }, { key: 'B', text: '广告计划' }, { key: 'C', text: '促销方案' }] };
  const multiple = { id: 12, type: 'multiple', stem: '哪些属于个人信息？', options: [{ key: 'A', text: '姓名' }, { key: 'B', text: '身份证号' }, { key: 'C', text: '天气' }] };

  async function tapOption(comp, index) {
    comp.querySelectorAll('.option')[index].dispatchEvent('tap');
    await flush();
  }

  test('single choice keeps only the last tapped key', async () => {
    const comp = mount('components/question-card/index', { question: single, value: [], index: 0, total: 5 });
    const changes = [];
    comp.addEventListener('change', (e) => changes.push(e.detail));
    expect(comp.querySelectorAll('.option')).toHaveLength(3);
    expect(comp.querySelector('.question-type').dom.textContent).toBe('单选题');
    await tapOption(comp, 0);
    await tapOption(comp, 2);
    expect(changes).toEqual([{ questionId: 11, choice: ['A'] }, { questionId: 11, choice: ['C'] }]);
    expect(comp.data.options.map((o) => o.selected)).toEqual([false, false, true]);
  });

  test('multiple choice toggles keys and keeps display order', async () => {
    const comp = mount('components/question-card/index', { question: multiple, value: [] });
    const changes = [];
    comp.addEventListener('change', (e) => changes.push(e.detail.choice));
    await tapOption(comp, 1);
    await tapOption(comp, 0);
    await tapOption(comp, 1);
    await tapOption(comp, 2);
    expect(changes).toEqual([['B'], ['A', 'B'], ['A'], ['A', 'C']]);
    expect(comp.querySelector('.question-hint').dom.textContent).toContain('可多选');
  });

  test('true_false behaves like single choice; disabled ignores taps', async () => {
    const tf = { id: 13, type: 'true_false', stem: '可以随意转发他人隐私。', options: [{ key: 'A', text: '正确' }, { key: 'B', text: '错误' }] };
    const comp = mount('components/question-card/index', { question: tf, value: ['A'] });
    const changes = [];
    comp.addEventListener('change', (e) => changes.push(e.detail.choice));
    await tapOption(comp, 1);
    expect(changes).toEqual([['B']]);
    comp.setData({ disabled: true });
    await tapOption(comp, 0);
    expect(changes).toEqual([['B']]);
  });
});

describe('signature pad', () => {
  let ctx;
  let canvasNode;

  beforeEach(() => {
    global.resetWx();
    ctx = { scale: jest.fn(), fillRect: jest.fn(), beginPath: jest.fn(), moveTo: jest.fn(), lineTo: jest.fn(), stroke: jest.fn() };
    canvasNode = { width: 0, height: 0, getContext: jest.fn(() => ctx) };
    const query = {
      in: jest.fn(() => query),
      select: jest.fn(() => query),
      fields: jest.fn(() => query),
      exec: jest.fn((cb) => cb([{ node: canvasNode, width: 300, height: 200 }])),
    };
    wx.createSelectorQuery = jest.fn(() => query);
  });

  test('drawing then exporting produces a PNG temp file path', async () => {
    const comp = mount('components/signature-pad/index', { height: 200 });
    const changes = [];
    comp.addEventListener('change', (e) => changes.push(e.detail.empty));
    await expect(comp.instance.exportImage()).rejects.toThrow('请先手写签名');

    const canvas = comp.querySelector('#signature-canvas');
    canvas.dispatchEvent('touchstart', { touches: [{ x: 10, y: 10 }] });
    await flush();
    canvas.dispatchEvent('touchmove', { touches: [{ x: 40, y: 30 }] });
    await flush();
    canvas.dispatchEvent('touchend', {});
    await flush();

    expect(canvasNode.getContext).toHaveBeenCalledWith('2d');
    expect(canvasNode.width).toBe(600); // 300 px × pixel ratio 2
    expect(ctx.lineTo).toHaveBeenCalledWith(40, 30);
    expect(changes).toEqual([false]);
    expect(comp.instance.isEmpty()).toBe(false);

    const path = await comp.instance.exportImage();
    expect(path).toBe('wxfile://tmp/signature.png');
    const args = wx.canvasToTempFilePath.mock.calls[0][0];
    expect(args.canvas).toBe(canvasNode);
    expect(args.fileType).toBe('png');

    comp.instance.clear();
    expect(changes).toEqual([false, true]);
    expect(comp.instance.isEmpty()).toBe(true);
  });
});
