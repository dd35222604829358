// One question: single / true_false pick one key, multiple toggles keys. Emits `change`
// {questionId, choice} with the keys in display order.
const TYPE_NAMES = { single: '单选题', multiple: '多选题', true_false: '判断题' };

Component({
  properties: {
    question: { type: Object, value: null },
    value: { type: Array, value: [] },
    index: { type: Number, value: 0 },
    total: { type: Number, value: 0 },
    disabled: { type: Boolean, value: false },
  },
  data: { typeName: '', options: [] },
  observers: {
    'question, value'(question, value) {
      if (!question) return;
      const chosen = value || [];
      this.setData({
        typeName: TYPE_NAMES[question.type] || '',
        options: (question.options || []).map((o) => ({ key: o.key, text: o.text, selected: chosen.indexOf(o.key) >= 0 })),
      });
    },
  },
  methods: {
    onTapOption(e) {
      if (this.data.disabled || !this.data.question) return;
      const key = e.currentTarget.dataset.key;
      const current = this.data.value || [];
      let choice;
      if (this.data.question.type === 'multiple') {
        const next = current.indexOf(key) >= 0 ? current.filter((k) => k !== key) : current.concat(key);
        const order = this.data.options.map((o) => o.key);
        choice = next.sort((a, b) => order.indexOf(a) - order.indexOf(b));
      } else {
        choice = [key];
      }
      this.setData({ value: choice });
      this.triggerEvent('change', { questionId: this.data.question.id, choice });
    },
  },
});
