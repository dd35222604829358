// Stand-in for TDesign tags in tests: renders its slot and, like t-button, emits `tap`.
Component({
  options: { multipleSlots: true },
  properties: {
    value: { type: null, value: '' },
    disabled: { type: Boolean, value: false },
    loading: { type: Boolean, value: false },
    label: { type: String, value: '' },
    title: { type: String, value: '' },
    note: { type: String, value: '' },
  },
  methods: {
    onTap() {
      if (!this.data.disabled && !this.data.loading) this.triggerEvent('tap');
    },
  },
});
