// In-memory hand-over between pages (e.g. the result of a submit for the result page).
const data = {};
module.exports = {
  set: (key, value) => {
    data[key] = value;
  },
  take: (key) => {
    const value = data[key];
    delete data[key];
    return value;
  },
};
