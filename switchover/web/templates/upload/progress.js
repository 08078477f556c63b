// Shows how much of an upload has been sent. Without this script the form posts as usual.
(function () {
  function enhance () {
    var form = document.getElementById('upload-form')
    if (!form || !window.XMLHttpRequest || !window.FormData || !window.DOMParser) return
    var box = document.getElementById('upload-progress')
    var bar = document.getElementById('upload-progress-bar')
    var text = document.getElementById('upload-progress-text')
    var button = document.getElementById('upload-button')
    form.addEventListener('submit', function (event) {
      event.preventDefault()
      var request = new XMLHttpRequest()
      request.open('POST', form.action)
      request.upload.addEventListener('progress', function (sent) {
        if (!sent.lengthComputable) return
        var percent = Math.round((sent.loaded / sent.total) * 100)
        bar.value = percent
        text.textContent = percent < 100 ? percent + '% sent' : 'Sent. Checking your files…'
      })
      request.addEventListener('load', function () {
        // The answer is the page to show (the results, or what is wrong with the files):
        // its main content replaces ours, and the summary at its top takes the focus.
        var page = new DOMParser().parseFromString(request.responseText, 'text/html')
        var main = page.getElementById('main-content')
        if (!main) { document.location.reload(); return }
        document.title = page.title
        document.getElementById('main-content').replaceWith(document.importNode(main, true))
        var summary = document.querySelector('.govuk-error-summary, .govuk-notification-banner')
        if (summary) {
          summary.setAttribute('tabindex', '-1')
          summary.focus()
        }
        enhance()
      })
      request.addEventListener('error', function () {
        box.hidden = true
        button.disabled = false
        form.submit() // the ordinary way: the browser shows its own error if it fails too
      })
      box.hidden = false
      button.disabled = true
      bar.value = 0
      text.textContent = 'Starting…'
      request.send(new FormData(form))
    })
  }
  enhance()
})()
