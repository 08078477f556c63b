// Switchover's own script: an improvement only, every page works without it.
// Focusing a field's box highlights where on the scan it was read.
const boxes = (name) => document.querySelectorAll(`.app-field-box[data-field="${CSS.escape(name)}"]`)

document.querySelectorAll('.app-field[data-field]').forEach((group) => {
  const name = group.dataset.field
  group.addEventListener('focusin', () => {
    boxes(name).forEach((box) => box.classList.add('app-field-box--active'))
  })
  group.addEventListener('focusout', () => {
    boxes(name).forEach((box) => box.classList.remove('app-field-box--active'))
  })
})
