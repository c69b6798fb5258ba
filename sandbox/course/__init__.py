"""The course: lessons and exercises as plain files, their validation, and learner progress.

Import the parts you need (`sandbox.course.lessons`, `sandbox.course.exercises`,
`sandbox.course.progress`); this package imports nothing, so that reading one is cheap.
"""
