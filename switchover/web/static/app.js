// Switchover's own script: an improvement only, every page works without it.
import { initAll } from '/static/govuk/govuk-frontend.min.js'
import { FilterToggleButton } from '/static/moj/moj-frontend.min.js'

// The design system's components: error summaries take focus, password inputs get their
// show button, the service navigation folds into a menu on small screens.
initAll()

// The review queue's filter: beside the list on wide screens, behind a "Show filter"
// button on small ones. Until this runs the filter stays in the page's flow (app.css),
// so it never covers the list.
const filter = document.querySelector('.app-queue-filter')
if (filter) {
  new FilterToggleButton(filter, {
    toggleButton: { showText: 'Show filter', hideText: 'Hide filter', classes: 'govuk-button--secondary' },
    closeButton: { text: 'Close filter', classes: 'govuk-button govuk-button--secondary moj-filter__close' }
  })
  filter.classList.add('app-queue-filter--ready')
}

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
