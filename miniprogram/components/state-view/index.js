// Loading / error / empty states with a retry button; shows its slot when status is "ok".
Component({
  options: { multipleSlots: true },
  properties: {
    status: { type: String, value: 'loading' }, // loading | error | empty | ok
    message: { type: String, value: '' },
    actionText: { type: String, value: '重新加载' },
  },
  methods: {
    onRetry() {
      this.triggerEvent('retry');
    },
  },
});
