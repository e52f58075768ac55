#!/usr/bin/env bash
# Install the pinned browser assets from npm (package-lock.json) and copy what the pages load into
# src/workflow_app/static/vendor/. Nothing is fetched from a CDN at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
VENDOR=src/workflow_app/static/vendor
rm -rf "$VENDOR"
mkdir -p "$VENDOR/bpmn-js" "$VENDOR/chart.js" "$VENDOR/properties-panel" "$VENDOR/dmn-js" "$VENDOR/form-js" \
  "$VENDOR/bpmn-js-differ" "$VENDOR/diagram-js-minimap"
cp node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js "$VENDOR/bpmn-js/"
cp node_modules/bpmn-js/dist/bpmn-modeler.production.min.js "$VENDOR/bpmn-js/"
cp -r node_modules/bpmn-js/dist/assets "$VENDOR/bpmn-js/assets"
cp node_modules/bpmn-js-properties-panel/dist/bpmn-js-properties-panel.umd.js "$VENDOR/properties-panel/"
cp node_modules/@bpmn-io/properties-panel/dist/assets/properties-panel.css "$VENDOR/properties-panel/"
cp node_modules/camunda-bpmn-moddle/resources/camunda.json "$VENDOR/properties-panel/"
cp node_modules/dmn-js/dist/dmn-modeler.production.min.js "$VENDOR/dmn-js/"
cp -r node_modules/dmn-js/dist/assets "$VENDOR/dmn-js/assets"
cp node_modules/chart.js/dist/chart.umd.min.js "$VENDOR/chart.js/"
# form-js editor (designs Camunda Forms in the modeller): the prebuilt UMD bundle (global FormEditor) and its CSS.
cp node_modules/@bpmn-io/form-js/dist/form-editor.umd.js "$VENDOR/form-js/"
cp -r node_modules/@bpmn-io/form-js/dist/assets "$VENDOR/form-js/assets"
# bpmn-js-differ ships only ES modules with bare imports: bundle it once into a script (global BpmnJsDiffer).
node_modules/.bin/esbuild node_modules/bpmn-js-differ/dist/index.esm.js --bundle --format=iife \
  --global-name=BpmnJsDiffer --minify --log-level=warning --outfile="$VENDOR/bpmn-js-differ/bpmn-js-differ.js"
# diagram-js-minimap: the overview in the corner of the instance and heat-map diagrams (global DiagramJSMinimap).
cp node_modules/diagram-js-minimap/dist/diagram-minimap.umd.prod.js "$VENDOR/diagram-js-minimap/"
cp node_modules/diagram-js-minimap/assets/diagram-js-minimap.css "$VENDOR/diagram-js-minimap/"
# GOV.UK Frontend and MOJ Frontend without Crown branding: the app's own stylesheet compiled from their Sass sources
# (assets/design.scss: a system font stack, no GDS Transport @font-face), MOJ's icons, and the two ES module bundles
# static/app.js imports to initialise the components (initAll).
mkdir -p "$VENDOR/design" "$VENDOR/design/images" "$VENDOR/govuk" "$VENDOR/moj"
node_modules/.bin/sass --load-path=. --no-source-map --style=compressed --quiet assets/design.scss "$VENDOR/design/design.css"
cp node_modules/@ministryofjustice/frontend/moj/assets/images/icon-*.svg "$VENDOR/design/images/"
cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js "$VENDOR/govuk/"
cp node_modules/@ministryofjustice/frontend/moj/moj-frontend.min.js "$VENDOR/moj/"
