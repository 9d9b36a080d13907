// A shared object for the core's tests: its live text in memory.

export function field(name, text = '') {
  return {
    name,
    text,
    getClientText() {
      return this.text;
    },
    setClientText(value) {
      this.text = value;
    },
  };
}
